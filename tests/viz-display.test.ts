// How figures, live views and progress bars talk to the host: plotly.js sent
// once per session, live outputs updated in place and throttled, progress bars
// in a notebook and on a terminal. A fake host records what a kernel would send.
import { test } from "node:test";
import assert from "node:assert/strict";
import { consoleHost, DisplayHandle, Host, MimeBundle, richBundle, setHost } from "../lib/host";
import { plot, Dashboard, ProgressBar } from "../lib/viz";
import { plotlyVersion } from "../lib/viz/plotlyjs";
import { thinIndices } from "../lib/viz/live";
import { textBar } from "../lib/viz/progress";

interface Output {
  id?: string;
  update: boolean;
  bundle: MimeBundle;
}

/** A host like the kernel's: turns each object into its bundle and records display/update messages. */
class FakeHost implements Host {
  outputs: Output[] = [];
  signal = new AbortController().signal;
  cell: string | undefined;
  private next = 0;
  constructor(readonly interactive = true) {}
  abortSignal() {
    return this.signal;
  }
  cellId() {
    return this.cell;
  }
  display(obj: unknown, options: { id?: boolean | string } = {}): DisplayHandle {
    const id = options.id === true ? `display-${++this.next}` : typeof options.id === "string" ? options.id : undefined;
    // Like the kernel: the bundle is computed (which may display plotly.js first), then sent.
    const bundle = richBundle(obj) ?? { "text/plain": String(obj) };
    this.outputs.push({ id, update: false, bundle });
    const outputs = this.outputs;
    return {
      id: id ?? "",
      update(o: unknown) {
        outputs.push({ id, update: true, bundle: richBundle(o) ?? { "text/plain": String(o) } });
      },
    };
  }
  /** Simulates running the next cell (a new execution and abort signal). */
  newExecution(cell?: string) {
    this.signal = new AbortController().signal;
    this.cell = cell;
  }
}

const LIBRARY_MARK = `plotly.js ${plotlyVersion()} (MIT licence`;
const carriesLibrary = (o: Output) => String(o.bundle["text/html"] ?? "").includes(LIBRARY_MARK);
const libraryCount = (h: FakeHost) => h.outputs.filter(carriesLibrary).length;

/** A clock the test moves by hand. */
function fakeClock() {
  let t = 0;
  const now = () => t;
  return { now, advance: (ms: number) => (t += ms) };
}

test("plotly.js is sent once per kernel session, as its own output before the first figure", (t) => {
  const h = new FakeHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  h.display(plot.line([1, 2, 3]));
  h.display(plot.bar([1, 2]));
  h.newExecution();
  h.display(plot.heatmap([[1]]));
  assert.equal(h.outputs.length, 4);
  assert.ok(carriesLibrary(h.outputs[0]), "first output is the library");
  assert.equal(libraryCount(h), 1, "the library is sent exactly once");
  assert.match(String(h.outputs[0].bundle["text/plain"]), /plotly\.js/);
  for (const o of h.outputs.slice(1)) assert.ok("application/vnd.plotly.v1+json" in o.bundle);
  // A new session (the kernel restarted: a new host) sends it again.
  const h2 = new FakeHost();
  setHost(h2);
  h2.display(plot.line([1]));
  assert.equal(libraryCount(h2), 1);
});

test("a terminal host (not interactive) never receives plotly.js", (t) => {
  const h = new FakeHost(false);
  setHost(h);
  t.after(() => setHost(consoleHost));
  h.display(plot.line([1, 2]));
  assert.equal(h.outputs.length, 1);
  assert.equal(libraryCount(h), 0);
});

test("re-running the cell that carried plotly.js sends it again; other cells do not", (t) => {
  const h = new FakeHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  h.newExecution("cell-a");
  h.display(plot.line([1]));
  h.display(plot.line([2]));
  assert.equal(libraryCount(h), 1);
  h.newExecution("cell-b");
  h.display(plot.line([3]));
  assert.equal(libraryCount(h), 1);
  h.newExecution("cell-a"); // the frontend clears cell-a's outputs, library included
  h.display(plot.line([4]));
  assert.equal(libraryCount(h), 2);
  h.display(plot.line([5]));
  assert.equal(libraryCount(h), 2, "once per execution of that cell");
});

test("plot.init() sends plotly.js again on request", (t) => {
  const h = new FakeHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  h.display(plot.line([1]));
  plot.init();
  assert.equal(libraryCount(h), 2);
  assert.ok(carriesLibrary(h.outputs[h.outputs.length - 1]));
});

test("a live figure is one output updated in place, throttled, and never carries the library in updates", (t) => {
  const h = new FakeHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  const clock = fakeClock();
  const view = plot.live(undefined, { minIntervalMs: 100, now: clock.now });
  const ys: number[] = [];
  let built = 0;
  const build = () => {
    built += 1;
    return plot.line(ys);
  };
  for (let step = 0; step < 50; step++) {
    ys.push(step);
    view.update(build);
    clock.advance(10);
  }
  view.close();
  const figures = h.outputs.filter((o) => !carriesLibrary(o));
  assert.equal(libraryCount(h), 1);
  assert.ok(carriesLibrary(h.outputs[0]), "the library precedes the live output");
  assert.equal(figures[0].update, false);
  assert.ok(figures.slice(1).every((o) => o.update && o.id === figures[0].id), "all later messages update the same display id");
  // 50 updates over 500 ms with a 100 ms throttle: about 5 draws plus the final one, not 50.
  assert.ok(figures.length >= 5 && figures.length <= 7, `drew ${figures.length} times`);
  assert.equal(built, figures.length, "the figure is only built when drawn");
  const last = figures[figures.length - 1].bundle["application/vnd.plotly.v1+json"] as any;
  assert.equal(last.data[0].y.length, 50, "close() drew the final state");
  assert.equal(view.draws, figures.length);
});

test("dashboard: redraws at most every N steps and k ms, groups metrics, draws the last step", (t) => {
  const h = new FakeHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  const clock = fakeClock();
  const dash = new Dashboard({ total: 100, every: 10, minIntervalMs: 50, maxPoints: 20, now: clock.now, title: "run" });
  let drawsReported = 0;
  for (let step = 1; step <= 100; step++) {
    const metrics: Record<string, number | undefined> = { loss: 5 / step, lr: 1e-3, tokensPerSec: 1000 + step };
    if (step % 25 === 0) metrics.valLoss = 6 / step;
    if (dash.log(step, metrics)) drawsReported += 1;
    clock.advance(2);
  }
  dash.close();
  const outs = h.outputs.filter((o) => !carriesLibrary(o));
  // every=10 steps but also ≥ 50 ms (25 steps at 2 ms/step): steps 1, 26, 51, 76 and the final step 100.
  assert.equal(drawsReported, 5);
  assert.equal(outs.length, 5, "close() adds nothing when the last step was drawn");
  assert.ok(outs.slice(1).every((o) => o.update));
  const fig = outs[outs.length - 1].bundle["application/vnd.plotly.v1+json"] as any;
  const names = fig.data.map((d: any) => d.name);
  assert.deepEqual(names, ["loss", "valLoss", "lr", "tokensPerSec"]);
  assert.equal(fig.data[0].x.length, 20, "100 logged steps thinned to maxPoints");
  assert.equal(fig.data[0].x[19], 100, "thinning keeps the last point");
  assert.deepEqual(fig.data[1].x, [25, 50, 75, 100], "val loss only where logged");
  assert.equal(fig.layout.yaxis.type, "log", "the loss panel is log-scaled");
  assert.match(fig.layout.title.text, /^run — step 100\/100/);
  const text = String(outs[outs.length - 1].bundle["text/plain"]);
  assert.match(text, /step 100\/100 · loss 0\.05 · lr 0\.001 · tokensPerSec 1100 · valLoss 0\.06/);
  assert.equal(dash.history.get("loss")!.values.length, 100, "every value is kept");
  assert.throws(() => dash.log(101, { loss: "x" as any }), /metric "loss" must be a number/);
});

test("dashboard: close() draws steps logged since the last redraw", (t) => {
  const h = new FakeHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  const clock = fakeClock();
  const dash = plot.dashboard({ minIntervalMs: 1000, now: clock.now });
  for (let step = 1; step <= 30; step++) dash.log(step, { loss: 1 / step });
  assert.equal(h.outputs.filter((o) => !carriesLibrary(o)).length, 1, "only the first step drew within 1 s");
  dash.close();
  const outs = h.outputs.filter((o) => !carriesLibrary(o));
  assert.equal(outs.length, 2);
  const fig = outs[1].bundle["application/vnd.plotly.v1+json"] as any;
  assert.equal(fig.data[0].y.length, 30);
});

test("dashboard: close() draws metrics logged at the step already drawn (val loss after the last step)", (t) => {
  const h = new FakeHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  const clock = fakeClock();
  const dash = plot.dashboard({ total: 3, minIntervalMs: 1000, now: clock.now });
  for (let step = 1; step <= 3; step++) dash.log(step, { loss: 1 / step });
  const drawn = h.outputs.filter((o) => !carriesLibrary(o)).length;
  dash.log(3, { valLoss: 0.5 }); // train() evaluates after the last step's onStep
  dash.close();
  const outs = h.outputs.filter((o) => !carriesLibrary(o));
  assert.equal(outs.length, drawn + 1, "close() redraws for the late val loss");
  const fig = outs[outs.length - 1].bundle["application/vnd.plotly.v1+json"] as any;
  assert.deepEqual(fig.data.map((d: any) => d.name), ["loss", "valLoss"]);
  dash.close();
  assert.equal(h.outputs.filter((o) => !carriesLibrary(o)).length, drawn + 1, "a second close() adds nothing");
});

test("dashboard on a terminal: a status line on the stream, no display messages", (t) => {
  const h = new FakeHost(false);
  setHost(h);
  t.after(() => setHost(consoleHost));
  const written: string[] = [];
  const stream = { write: (s: string) => (written.push(s), true), isTTY: true } as any;
  const clock = fakeClock();
  const dash = new Dashboard({ total: 10, now: clock.now, stream, minIntervalMs: 0 });
  for (let step = 1; step <= 10; step++) {
    clock.advance(100);
    dash.log(step, { loss: 2 - step / 10 });
  }
  dash.close();
  assert.equal(h.outputs.length, 0);
  const all = written.join("");
  assert.match(all, /\rtrain: 100%\|█+\| 10\/10 .*loss=1\b/);
  assert.ok(all.endsWith("\n"));
});

test("thinIndices keeps the first and last and spreads the rest evenly", () => {
  assert.deepEqual(thinIndices(5, 10), [0, 1, 2, 3, 4]);
  assert.deepEqual(thinIndices(101, 5), [0, 25, 50, 75, 100]);
});

test("progress bar in a notebook: one HTML output updated in place, throttled, final state on close", (t) => {
  const h = new FakeHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  const clock = fakeClock();
  const bar = plot.progress(1000, { label: "tokenize", now: clock.now });
  for (let i = 1; i <= 1000; i++) {
    clock.advance(1);
    bar.update(i, { loss: 3 - i / 1000 });
  }
  bar.close();
  assert.ok(h.outputs.length >= 5 && h.outputs.length <= 8, `throttled to ~every 200 ms: ${h.outputs.length} messages`);
  assert.equal(h.outputs[0].update, false);
  assert.ok(h.outputs.slice(1).every((o) => o.update && o.id === h.outputs[0].id));
  const last = h.outputs[h.outputs.length - 1].bundle;
  assert.match(String(last["text/html"]), /100%/);
  assert.match(String(last["text/html"]), /1000\/1000/);
  assert.match(String(last["text/html"]), /tokenize/);
  assert.match(String(last["text/plain"]), /tokenize: 100%\|█{20}\| 1000\/1000 \[00:01<00:00, 1000 it\/s\] loss=2/);
  assert.equal(libraryCount(h), 0, "a progress bar needs no plotly.js");
});

test("progress bar on a terminal: \\r lines on the stream with %, rate and ETA; newline on close", (t) => {
  setHost(consoleHost);
  const written: string[] = [];
  const stream = { write: (s: string) => (written.push(s), true), isTTY: true } as any;
  const clock = fakeClock();
  const bar = new ProgressBar(10, { label: "eval", stream, now: clock.now, minIntervalMs: 0, unit: "batch" });
  clock.advance(2000);
  bar.update(5, { acc: 0.5 });
  assert.equal(written[written.length - 1], "\reval:  50%|██████████          | 5/10 [00:02<00:02, 2.50 batch/s] acc=0.5");
  bar.advance();
  bar.close();
  bar.close();
  assert.ok(written.every((s) => s.startsWith("\r") || s === "\n"));
  assert.equal(written.filter((s) => s === "\n").length, 1, "close twice is safe");
  assert.match(written[written.length - 2], /6\/10/);
  t.diagnostic(`terminal line: ${JSON.stringify(written[1])}`);
});

test("progress bar: unknown total, disable, bad input", () => {
  setHost(consoleHost);
  const written: string[] = [];
  const stream = { write: (s: string) => (written.push(s), true) } as any;
  const clock = fakeClock();
  const bar = new ProgressBar(undefined, { stream, now: clock.now, minIntervalMs: 0 });
  clock.advance(1000);
  bar.update(3);
  assert.match(bar.text(), /^3 \[00:01, 3\.00 it\/s\]$/);
  const off = new ProgressBar(5, { stream, disable: true });
  const before = written.length;
  off.update(3);
  off.close();
  assert.equal(written.length, before);
  assert.throws(() => new ProgressBar(-1), /total must be a non-negative number/);
  assert.throws(() => bar.update(NaN), /step must be a number/);
  assert.equal(textBar(0.5, 4), "██  ");
  assert.equal(textBar(1 / 16, 2), "▏ ");
});
