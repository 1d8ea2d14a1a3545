// Rich display of tf tensors and danfo DataFrames/Series.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { DISPLAY_SYMBOL, richBundle } from "../lib/host";
import { dfd, danfoLoaded } from "../lib/viz/dataframe";
import { installTensorDisplay, tensorText } from "../lib/viz/tensor";
import { installDisplays, setTableOptions } from "../lib/viz";

test("dfd is lazy: danfojs-node loads on first use, not on import", () => {
  assert.equal(danfoLoaded(), false);
  const df = new dfd.DataFrame({ a: [1, 2] });
  assert.equal(danfoLoaded(), true);
  assert.deepEqual(df.shape, [2, 1]);
  assert.ok("DataFrame" in dfd);
  assert.ok(Object.keys(dfd).includes("readCSV"));
});

test("tensors show nothing special until the installer runs, then a rich bundle", () => {
  const t = tf.tensor2d([
    [1.5, 2, -3],
    [4, 5, 6],
  ]);
  Reflect.deleteProperty(tf.Tensor.prototype, DISPLAY_SYMBOL);
  assert.equal(richBundle(t), undefined);
  installDisplays(tf);
  const b = richBundle(t)!;
  assert.equal(
    b["text/plain"],
    "tensor([[ 1.5000,  2.0000, -3.0000],\n" + "        [ 4.0000,  5.0000,  6.0000]], shape=[2, 3], dtype=float32)",
  );
  const html = String(b["text/html"]);
  assert.match(html, /<b>Tensor<\/b> float32 · shape \[2, 3\] · 6 values · min -3 · max 6 · mean 2\.5/);
  assert.match(html, /<table class="llmlab-tensor"/);
  assert.equal(html.match(/<td /g)?.length, 6, "a small 2-D tensor is a 2×3 table");
  // Variables are tensors too.
  const v = tf.variable(tf.ones([2]));
  assert.match(String(richBundle(v)!["text/plain"]), /^tensor\(\[1\., 1\.\], shape=\[2\], dtype=float32\)$/);
  tf.dispose([t, v]);
});

test("tensor text: dtypes, scalars, empty and disposed tensors", () => {
  installTensorDisplay(tf);
  const cases: Array<[tf.Tensor, string]> = [
    [tf.scalar(3.14159), "tensor(3.1416, shape=[], dtype=float32)"],
    [tf.tensor1d([1, 2, 3], "int32"), "tensor([1, 2, 3], shape=[3], dtype=int32)"],
    [tf.tensor1d([1, 0], "bool"), "tensor([ true, false], shape=[2], dtype=bool)"],
    [tf.tensor1d(["a", "b c"]), 'tensor([  "a", "b c"], shape=[2], dtype=string)'],
    [tf.tensor1d([1e-6, 1]), "tensor([1.0000e-6, 1.0000e+0], shape=[2], dtype=float32)"],
    [tf.tensor1d([NaN, 1.5]), "tensor([   nan, 1.5000], shape=[2], dtype=float32)"],
    [tf.zeros([0, 3]), "tensor([], shape=[0, 3], dtype=float32)"],
  ];
  for (const [t, expected] of cases) assert.equal(tensorText(t as any), expected);
  const d = tf.ones([2, 2]);
  d.dispose();
  assert.equal(richBundle(d)!["text/plain"], "tensor(<disposed>, shape=[2, 2], dtype=float32)");
  assert.match(String(richBundle(d)!["text/html"]), /disposed/);
  tf.dispose(cases.map((c) => c[0]));
});

test("large tensors are elided in the middle of each axis, like PyTorch", () => {
  installTensorDisplay(tf);
  const t = tf.range(0, 60000, 1, "int32").reshape([200, 300]);
  const text = tensorText(t as any);
  const lines = text.split("\n");
  assert.equal(lines.length, 7, "3 rows, '...', 3 rows");
  assert.equal(lines[0], "tensor([[    0,     1,     2,   ...,   297,   298,   299],");
  assert.equal(lines[3].trim(), "...,");
  assert.match(lines[6], /\[59700, 59701, 59702,   \.\.\., 59997, 59998, 59999\]\], shape=\[200, 300\], dtype=int32\)$/);
  const html = String(richBundle(t)!["text/html"]);
  assert.match(html, /<pre/, "a big tensor is previewed as text, not a 60,000-cell table");
  assert.ok(html.length < 5000);
  t.dispose();
  const cube = tf.ones([2, 2, 2]);
  assert.equal(tensorText(cube as any), "tensor([[[1., 1.],\n         [1., 1.]],\n\n        [[1., 1.],\n         [1., 1.]]], shape=[2, 2, 2], dtype=float32)");
  cube.dispose();
  // A long 1-D tensor wraps at 80 columns instead of making one huge line.
  const long = tf.linspace(0, 1, 40);
  const wrapped = tensorText(long as any).split("\n");
  assert.ok(wrapped.length > 3 && wrapped.every((l) => l.length <= 80), wrapped.join("\n"));
  long.dispose();
});

test("a DataFrame shows as an HTML table and aligned text with its size", () => {
  const df = new dfd.DataFrame({ model: ["gpt2", "<ours>"], loss: [3.3, 1.8765432], tokens: [1000, 2000] });
  const b = richBundle(df)!;
  const html = String(b["text/html"]);
  assert.match(html, /<table class="dataframe"/);
  assert.match(html, /<th>model<\/th><th>loss<\/th><th>tokens<\/th>/);
  assert.match(html, /<td>&lt;ours&gt;<\/td><td>1\.87654<\/td><td>2000<\/td>/);
  assert.match(html, /2 rows × 3 columns/);
  assert.equal(
    b["text/plain"],
    "    model     loss  tokens\n" + "0    gpt2      3.3    1000\n" + "1  <ours>  1.87654    2000\n" + "\n" + "[2 rows × 3 columns]",
  );
});

test("a long DataFrame shows head … tail; a wide one elides middle columns", () => {
  const n = 1000;
  const df = new dfd.DataFrame({ step: Array.from({ length: n }, (_, i) => i), loss: Array.from({ length: n }, (_, i) => 1 / (i + 1)) });
  const html = String(richBundle(df)!["text/html"]);
  const rows = html.match(/<tr><th>/g)!.length;
  assert.equal(rows, 21, "10 head rows, the … row, 10 tail rows");
  assert.match(html, /<tr><th>…<\/th><td>…<\/td><td>…<\/td><\/tr>/);
  assert.match(html, /<th>999<\/th><td>999<\/td>/);
  assert.match(html, /1000 rows × 2 columns/);
  assert.match(String(richBundle(df)!["text/plain"]), /\[1000 rows × 2 columns\]$/);
  // Frames that danfo operations return (base-class instances) show the same way.
  assert.match(String(richBundle(df.head(3))?.["text/html"]), /3 rows × 2 columns/);
  assert.match(String(richBundle(df.loc({ rows: ["0:5"] }))?.["text/html"]), /5 rows × 2 columns/);
  const wide: Record<string, number[]> = {};
  for (let c = 0; c < 30; c++) wide[`c${c}`] = [c];
  const w = new dfd.DataFrame(wide);
  const whtml = String(richBundle(w)!["text/html"]);
  assert.match(whtml, /<th>c7<\/th><th>…<\/th><th>c22<\/th>/);
  assert.match(whtml, /1 row × 30 columns/);
  setTableOptions({ maxRows: 2000 });
  assert.equal(String(richBundle(df)!["text/html"]).match(/<tr><th>/g)!.length, 1000);
  setTableOptions({ maxRows: 30 });
});

test("a Series shows as a one-column table with its dtype", () => {
  const df = new dfd.DataFrame({ a: [1.5, 2.5, 3.5] });
  const s = df["a"] as any;
  const b = richBundle(s)!;
  assert.match(String(b["text/html"]), /<th>a<\/th>/);
  assert.match(String(b["text/html"]), /3 rows · dtype float32/);
  assert.match(String(b["text/plain"]), /^\s+a\n0\s+1\.5\n1\s+2\.5\n2\s+3\.5\n\n\[3 rows · dtype float32\]$/);
});
