// What live views cost a training loop: a dashboard `log()` that does not
// redraw, a redraw (figure rebuilt, bundle made and JSON-encoded as the kernel
// would), and a progress bar `update()`. Prints numbers; asserts nothing.
//
//   node dist/bench/viz.js
import { DisplayHandle, Host, richBundle, setHost } from "../lib/host";
import { Dashboard, ProgressBar } from "../lib/viz";

/** A notebook host that serialises each message like the kernel does, and counts bytes. */
class SerialisingHost implements Host {
  readonly interactive = true;
  bytes = 0;
  messages = 0;
  abortSignal() {
    return undefined;
  }
  display(obj: unknown): DisplayHandle {
    this.send(obj);
    return { id: "bench", update: (o: unknown) => this.send(o) };
  }
  private send(obj: unknown) {
    this.messages += 1;
    this.bytes += JSON.stringify(richBundle(obj)).length;
  }
}

function time(label: string, iterations: number, fn: (i: number) => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  const perCall = Number(process.hrtime.bigint() - start) / iterations;
  const text = perCall < 1e3 ? `${perCall.toFixed(0)} ns` : perCall < 1e6 ? `${(perCall / 1e3).toFixed(1)} µs` : `${(perCall / 1e6).toFixed(2)} ms`;
  console.log(`${label.padEnd(58)} ${text.padStart(10)} per call`);
  return perCall;
}

function main() {
  const host = new SerialisingHost();
  setHost(host);
  // Warm the plotly.js read (sent once per session, not per update).
  new Dashboard({ minIntervalMs: 0 }).log(0, { loss: 1 });

  console.log("llmlab viz: cost of live training views (one run, this machine)\n");
  const throttled = new Dashboard({ every: 1_000_000, minIntervalMs: 1e12 });
  throttled.log(0, { loss: 1 });
  time("Dashboard.log, 4 metrics, throttled (no redraw)", 200_000, (i) =>
    throttled.log(i + 1, { loss: 3 / (i + 1), valLoss: undefined, lr: 1e-3, tokensPerSec: 12000 }),
  );

  for (const steps of [1_000, 10_000, 100_000]) {
    // Fill the history through log() with redraws off, then time forced redraws.
    const filler = new Dashboard({ every: 1e9, minIntervalMs: 1e12, maxPoints: 500 });
    for (let s = 1; s <= steps; s++) filler.log(s, { loss: 3 / s, valLoss: s % 100 === 0 ? 3.1 / s : undefined, lr: 1e-3, tokensPerSec: 12000 });
    const before = host.bytes;
    const n = 50;
    time(`Dashboard redraw after ${steps.toLocaleString("en")} steps (≤500 pts/curve)`, n, () => filler.flush());
    console.log(`${"".padEnd(58)} ${(((host.bytes - before) / n) / 1024).toFixed(0).padStart(7)} KiB per update message`);
  }

  const bar = new ProgressBar(1e9, { minIntervalMs: 200 });
  time("ProgressBar.update, throttled to 200 ms", 1_000_000, (i) => bar.update(i, { loss: 2.5 }));
  bar.close();

  console.log(
    "\nWith the defaults (a notebook redraws at most once a second), a run of 10,000 steps at" +
      "\n~50 ms/step sends ~500 updates; the throttled log() above is the per-step cost.",
  );
}

main();
