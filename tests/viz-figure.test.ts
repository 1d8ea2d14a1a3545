// The figure helpers: the plotly data/layout they build from friendly inputs,
// their errors, and the MIME bundle a figure shows as.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { DISPLAY_SYMBOL, MimeBundle } from "../lib/host";
import { plot, Figure, PLOTLY_MIME, visibleToken } from "../lib/viz";
import { plotlyLibraryHtml, plotlyVersion } from "../lib/viz/plotlyjs";
import { smoothValues, binCounts, uniqueLabels } from "../lib/viz/charts";

type Trace = Record<string, any>;
const trace = (fig: Figure, i = 0) => fig.data[i] as Trace;
const layout = (fig: Figure) => fig.layout as Record<string, any>;

test("line: y values alone get x = 0..n-1; arrays, typed arrays and tensors give the same trace", () => {
  const a = plot.line([3, 2, 1.5]);
  const b = plot.line(new Float32Array([3, 2, 1.5]));
  const t = tf.tensor1d([3, 2, 1.5]);
  const c = plot.line(t);
  t.dispose();
  for (const fig of [a, b, c]) {
    assert.equal(fig.data.length, 1);
    assert.equal(trace(fig).type, "scatter");
    assert.equal(trace(fig).mode, "lines");
    assert.deepEqual(trace(fig).x, [0, 1, 2]);
    assert.deepEqual(trace(fig).y, [3, 2, 1.5]);
  }
});

test("line: (x, y), {x, y}, named series and arrays of series", () => {
  const steps = [10, 20, 30];
  const xy = plot.line(steps, [1, 2, 3]);
  assert.deepEqual(trace(xy).x, steps);
  const obj = plot.line({ x: steps, y: [1, 2, 3] });
  assert.deepEqual(trace(obj).x, steps);
  const named = plot.line({ train: [3, 2, 1], val: { x: [0, 2], y: [3.5, 2.5] } }, { title: "loss", xLabel: "step", logY: true });
  assert.deepEqual(named.data.map((d: Trace) => d.name), ["train", "val"]);
  assert.deepEqual(trace(named, 1).x, [0, 2]);
  assert.equal(layout(named).showlegend, true);
  assert.deepEqual(layout(named).title, { text: "loss" });
  assert.equal(layout(named).yaxis.type, "log");
  assert.deepEqual(layout(named).xaxis.title, { text: "step" });
  const list = plot.line([{ name: "a", y: [1, 2] }, { name: "b", y: [2, 1] }]);
  assert.deepEqual(list.data.map((d: Trace) => d.name), ["a", "b"]);
  // NaN and Infinity leave gaps (null), they are not plotted as numbers.
  assert.deepEqual(trace(plot.line([1, NaN, Infinity, 2])).y, [1, null, null, 2]);
});

test("line: mismatched lengths and non-numbers are clear errors", () => {
  assert.throws(() => plot.line([1, 2, 3], [1, 2]), /3 x values but 2 y values/);
  assert.throws(() => plot.line({ loss: { x: [1, 2], y: [1] } }), /series "loss" has 2 x values but 1 y values/);
  assert.throws(() => plot.line([1, "a" as any, 3]), /y\[1\] is "a", expected a number/);
  assert.throws(() => plot.line(tf.zeros([2, 3]) as any), /expected 1-D values, got a tensor of shape \[2, 3\]/);
  assert.throws(() => plot.line(42 as any), /expected y values/);
  const disposed = tf.tensor1d([1, 2]);
  disposed.dispose();
  assert.throws(() => plot.line(disposed), /disposed/);
});

test("line: smoothing draws a debiased EMA over a faint raw curve", () => {
  assert.deepEqual(smoothValues([1, 3], 0.5).map((v) => Number(v!.toFixed(6))), [1, 2.333333]);
  assert.deepEqual(smoothValues([2, null, 2], 0.9), [2, null, 2]);
  const fig = plot.line({ loss: [4, 3, 2] }, { smooth: 0.6 });
  assert.equal(fig.data.length, 2);
  assert.equal(trace(fig, 0).opacity, 0.3);
  assert.equal(trace(fig, 1).name, "loss");
  assert.throws(() => plot.line([1, 2], { smooth: 1 }), /smooth must be in \[0, 1\)/);
});

test("scatter: markers, log axes and per-point labels", () => {
  const fig = plot.scatter([1e5, 1e6, 1e7], [3.2, 2.8, 2.5], { logX: true, logY: true, text: ["S", "M", "L"], showText: true });
  assert.equal(trace(fig).mode, "markers+text");
  assert.deepEqual(trace(fig).text, ["S", "M", "L"]);
  assert.equal(layout(fig).xaxis.type, "log");
  assert.equal(layout(fig).yaxis.type, "log");
  assert.throws(() => plot.scatter([1, 2], [1, 2], { text: ["a"] }), /1 text labels for 2 points/);
});

test("heatmap: rows are queries top-down, columns keys, tokens label both axes", () => {
  const att = [
    [1, 0, 0],
    [0.5, 0.5, 0],
    [0.2, 0.3, 0.5],
  ];
  const fig = plot.heatmap(att, { tokens: ["a", " ", "a"] });
  const t = trace(fig);
  assert.equal(t.type, "heatmap");
  assert.deepEqual(t.z, att);
  // Repeated tokens stay distinct categories; whitespace is made visible.
  assert.equal(t.x.length, 3);
  assert.equal(new Set(t.x).size, 3);
  assert.equal(t.x[1], "␣");
  assert.deepEqual(t.x, t.y);
  assert.equal(layout(fig).yaxis.autorange, "reversed");
  assert.equal(layout(fig).xaxis.type, "category");
  assert.deepEqual(layout(fig).xaxis.title, { text: "key" });
  assert.deepEqual(layout(fig).yaxis.title, { text: "query" });
  assert.equal(t.colorscale, "Viridis");
});

test("heatmap: tensors, masked -Infinity, diverging data and shape errors", () => {
  const scores = tf.tensor2d([
    [0.3, -Infinity],
    [-1.2, 0.7],
  ]);
  const fig = plot.heatmap(scores, { x: ["k0", "k1"], y: ["q0", "q1"] });
  assert.deepEqual(trace(fig).z, [
    [0.30000001192092896, null],
    [-1.2000000476837158, 0.699999988079071],
  ]);
  assert.equal(trace(fig).colorscale, "RdBu");
  assert.equal(trace(fig).zmid, 0);
  const batch = tf.ones([1, 2, 2]);
  assert.deepEqual(trace(plot.heatmap(batch)).z, [
    [1, 1],
    [1, 1],
  ]);
  assert.throws(() => plot.heatmap(tf.ones([2, 2, 2])), /expected a 2-D matrix, got a tensor of shape \[2, 2, 2\]/);
  assert.throws(() => plot.heatmap([[1, 2], [3]]), /rows have different lengths/);
  assert.throws(() => plot.heatmap([[1, 2]], { tokens: ["a", "b", "c"] }), /3 column labels for 2 columns/);
  assert.throws(() => plot.heatmap([1, 2] as any), /row 0 is number 1/);
  tf.dispose([scores, batch]);
});

test("heatmaps: a [layers, heads, T, T] tensor becomes a titled grid with one shared colour scale", () => {
  const att = tf.randomUniform([2, 3, 4, 4]);
  const fig = plot.heatmaps(att, { tokens: ["a", "b", "c", "d"] });
  att.dispose();
  assert.equal(fig.data.length, 6);
  assert.ok(fig.data.every((d: Trace) => d.coloraxis === "coloraxis" && d.colorscale === undefined));
  const titles = (layout(fig).annotations as Trace[]).map((a) => a.text);
  assert.deepEqual(titles, ["layer 0 head 0", "layer 0 head 1", "layer 0 head 2", "layer 1 head 0", "layer 1 head 1", "layer 1 head 2"]);
  assert.ok(layout(fig).coloraxis.cmin >= 0 && layout(fig).coloraxis.cmax <= 1);
});

test("heatmap with token labels: square cells by shrinking the domain, so ticks stay next to the cells", () => {
  const square = layout(plot.heatmap([[1, 0], [0.5, 0.5]], { tokens: ["a", "b"] }));
  assert.equal(square.yaxis.scaleanchor, "x");
  assert.equal(square.xaxis.constrain, "domain");
  assert.equal(square.yaxis.constrain, "domain");
  // Without labels on both axes the cells need not be square.
  const free = layout(plot.heatmap([[1, 2, 3]], { x: ["a", "b", "c"] }));
  assert.equal(free.yaxis.scaleanchor, undefined);
  assert.equal(free.xaxis.constrain, undefined);
  // In a grid every cell keeps its own square constraint.
  const att = tf.randomUniform([2, 2, 3, 3]);
  const grid = layout(plot.heatmaps(att, { tokens: ["x", "y", "z"] }));
  att.dispose();
  for (const k of ["", "2", "3", "4"]) {
    assert.equal(grid["yaxis" + k].scaleanchor, "x" + k);
    assert.equal(grid["yaxis" + k].constrain, "domain");
    assert.equal(grid["xaxis" + k].constrain, "domain");
  }
  // Rows are far enough apart for the labelled x axis of one row and the cell titles of the next.
  const gapPx = (grid.yaxis.domain[0] - grid.yaxis3.domain[1]) * grid.height;
  assert.ok(gapPx >= 110, `gap between rows ${gapPx} px`);
});

test("histogram: values are binned here, on edges shared by all series", () => {
  assert.deepEqual(binCounts([0, 0.5, 1, 1.5, 2, null], 0, 2, 4), [1, 1, 1, 2]);
  const fig = plot.histogram([0, 0.5, 1, 1.5, 2], { bins: 4 });
  const t = trace(fig);
  assert.equal(t.type, "histogram");
  assert.equal(t.histfunc, "sum");
  assert.deepEqual(t.x, [0.25, 0.75, 1.25, 1.75]);
  assert.deepEqual(t.y, [1, 1, 1, 2]);
  assert.deepEqual(t.xbins, { start: 0, end: 2, size: 0.5 });
  const two = plot.histogram({ before: [0, 1, 2, 3], after: tf.tensor2d([[10, 11], [12, 13]]) }, { bins: 13, density: true });
  assert.equal(two.data.length, 2);
  assert.deepEqual(trace(two, 0).x, trace(two, 1).x);
  for (const d of two.data as Trace[]) {
    const area = (d.y as number[]).reduce((a, b) => a + b, 0) * d.xbins.size;
    assert.ok(Math.abs(area - 1) < 1e-9, `density integrates to 1, got ${area}`);
  }
  assert.equal(layout(two).barmode, "overlay");
  const big = plot.histogram(tf.randomNormal([200000]), { bins: 50 });
  assert.equal(trace(big).x.length, 50, "a million-value histogram sends 50 bins, not the values");
  assert.equal((trace(big).y as number[]).reduce((a, b) => a + b, 0), 200000);
  assert.throws(() => plot.histogram("abc" as any), /plot.histogram/);
});

test("bar: labels and values, records, grouped series, horizontal; mismatches are errors", () => {
  const fig = plot.bar(["gpt2", "ours"], [3.3, 2.1]);
  assert.deepEqual(trace(fig).x, ["gpt2", "ours"]);
  assert.deepEqual(trace(fig).y, [3.3, 2.1]);
  const rec = plot.bar({ en: 4.1, zh: 1.3 });
  assert.deepEqual(trace(rec).x, ["en", "zh"]);
  const grouped = plot.bar(["en", "zh", "code"], { gpt2: [4, 1, 3], gpt4: [4.5, 1.5, 3.8] }, { stacked: false });
  assert.equal(grouped.data.length, 2);
  assert.equal(layout(grouped).barmode, "group");
  const h = plot.bar(["a", "b"], [1, 2], { horizontal: true });
  assert.equal(trace(h).orientation, "h");
  assert.deepEqual(trace(h).y, ["a", "b"]);
  assert.throws(() => plot.bar(["a", "b", "c"], [1, 2]), /3 labels but 2 values/);
});

test("subplots: each cell keeps its traces and axis settings on its own axes", () => {
  const a = plot.line([1, 2, 3], { title: "A", logY: true });
  const b = plot.scatter([1, 2], [3, 4], { title: "B" });
  const c = plot.histogram([1, 2, 2, 3]);
  const fig = plot.subplots(2, 2, [a, b, c], { title: "grid" });
  assert.deepEqual(fig.data.map((d: Trace) => [d.xaxis, d.yaxis]), [
    ["x", "y"],
    ["x2", "y2"],
    ["x3", "y3"],
  ]);
  const l = layout(fig);
  assert.equal(l.yaxis.type, "log");
  assert.equal(l.yaxis2.type, undefined);
  // Domains inside [0, 1] and cells do not overlap.
  assert.ok(l.xaxis.domain[1] < l.xaxis2.domain[0]);
  assert.ok(l.yaxis3.domain[1] < l.yaxis.domain[0]);
  for (const k of ["xaxis", "xaxis2", "yaxis", "yaxis3"]) assert.ok(l[k].domain[0] >= 0 && l[k].domain[1] <= 1);
  assert.equal(l.xaxis2.anchor, "y2");
  assert.deepEqual((l.annotations as Trace[]).map((x) => x.text), ["A", "B"]);
  assert.deepEqual(l.title, { text: "grid" });
  // The same grid given as rows.
  const rows = plot.subplots(2, 2, [[a, b], [c]]);
  assert.equal(rows.data.length, 3);
  assert.throws(() => plot.subplots(1, 1, [a, b]), /2 figures do not fit a 1×1 grid/);
  assert.throws(() => plot.subplots(0, 1, [a]), /positive integers/);
  assert.throws(() => plot.subplots(1, 2, [a, {} as any]), /cell 1 is not a Figure/);
});

test("figure: raw plotly traces; typed arrays and tensors become JSON arrays", () => {
  const x = new Float32Array([1, 2]);
  const z = tf.tensor2d([[1, 2], [3, 4]]);
  const fig = plot.figure([{ type: "scatter", x, y: [3, 4] }, { type: "heatmap", z } as any], { title: { text: "raw" } });
  const json = fig.toJSON();
  assert.deepEqual((json.data[0] as Trace).x, [1, 2]);
  assert.deepEqual((json.data[1] as Trace).z, [[1, 2], [3, 4]]);
  assert.equal(json.config.responsive, true);
  assert.equal(json.config.displaylogo, false);
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(json)));
  z.dispose();
  assert.throws(() => plot.figure("nope" as any), /trace 0 must be an object/);
  assert.throws(() => new Figure([], [] as any), /layout must be an object/);
  const overlaid = plot.overlay(plot.scatter([1, 10], [5, 2], { logX: true }), plot.line({ fit: { x: [1, 10], y: [5.1, 2.1] } }));
  assert.equal(overlaid.data.length, 2);
  assert.equal(layout(overlaid).xaxis.type, "log");
});

test("a figure's MIME bundle: plotly JSON, offline HTML with the loader, and a text summary", () => {
  const fig = plot.line({ "</script><script>alert(1)</script>": [1, 2, 3] }, { title: "loss" });
  const bundle: MimeBundle = fig.bundle();
  assert.deepEqual(Object.keys(bundle).sort(), [PLOTLY_MIME, "text/html", "text/plain"].sort());
  const json = bundle[PLOTLY_MIME] as Trace;
  assert.deepEqual(json.data, fig.toJSON().data);
  assert.deepEqual(json.layout, fig.toJSON().layout);
  const html = bundle["text/html"] as string;
  assert.match(html, /<div id="llmlab-fig-[^"]+" class="llmlab-figure"/);
  assert.match(html, /window\.Plotly/);
  assert.match(html, /newPlot/);
  assert.match(html, /__llmlabPlotlyWaiters/);
  // No network: no URL, no external script; the data cannot close the script early.
  assert.doesNotMatch(html, /https?:\/\//);
  assert.doesNotMatch(html, /src\s*=/);
  assert.equal(html.split("</script>").length, 2, "exactly one script, closed once");
  assert.ok(!html.includes(plotlyVersion() + " (MIT"), "a figure does not carry plotly.js itself");
  const text = bundle["text/plain"] as string;
  assert.match(text, /^Figure "loss": 1 trace/);
  assert.match(text, /3 points/);
  // Every render gets its own element id, so one figure can be shown twice on a page.
  assert.notEqual(fig.bundle()["text/html"], html);
});

test("the library output carries plotly.js inline, safe for RequireJS pages, with no external load", () => {
  const html = plotlyLibraryHtml();
  assert.ok(html.length > 3_000_000, "the whole bundle is inline");
  assert.match(html, /^<div class="llmlab-plotlyjs"/);
  assert.equal(html.split(/<\/script>/i).length, 2, "the bundle cannot end the script early");
  assert.doesNotMatch(html, /<script[^>]+src=/);
  assert.match(html, /\(function \(define, module, exports, require\) \{/);
  assert.match(html, /\.call\(w, undefined, shim, shim\.exports, undefined\)/);
  assert.match(html, /__llmlabPlotlyWaiters/);
});

test("visibleToken and uniqueLabels keep token axes readable", () => {
  assert.equal(visibleToken(" the"), "␣the");
  assert.equal(visibleToken("\n"), "↵");
  assert.equal(visibleToken(""), "∅");
  assert.deepEqual(uniqueLabels(["a", "b", "a", "a"]).map((s) => s.length), [1, 1, 2, 3]);
});

test("Figure implements the Jupyter display protocol", () => {
  const fig = plot.bar([1, 2]);
  assert.equal(typeof (fig as any)[DISPLAY_SYMBOL], "function");
});

test("line and scatter take named series sharing one x", () => {
  const fig = plot.line([0, 10, 20], { train: [3, 2, 1], val: [3.5, 2.5, 2] }, { title: "loss" });
  const data = fig.data as Array<{ name?: string; x: number[]; y: number[] }>;
  assert.deepEqual(data.map((d) => d.name), ["train", "val"]);
  assert.deepEqual(data[1].x, [0, 10, 20]);
  assert.deepEqual(data[1].y, [3.5, 2.5, 2]);
  assert.throws(() => plot.line([0, 1], { a: [1, 2, 3] }), /length|same/);
  // An options object with an array-valued option is still options.
  const sc = plot.scatter([1, 2], { text: ["a", "b"] });
  assert.equal((sc.data as unknown[]).length, 1);
});
