// Figures really draw in a browser, offline. Pages are opened in headless
// Chromium (Debian package `chromium`) with networking off, and every figure
// must have been drawn by plotly.js (its `plot-container` element is in the DOM):
//  1. a page assembled from the MIME bundles the library sends through a host,
//     with RequireJS loaded (as classic Notebook does) and plotly.js placed
//     AFTER the figures, so the loaders must wait for it;
//  2. those outputs saved in a notebook, exported with `jupyter nbconvert --to
//     html`, and reopened (trusted) in classic Jupyter Notebook 6;
//  3. tests/fixtures/viz/figures.ipynb executed through the real llmlab kernel
//     with `jupyter nbconvert --to notebook --execute`, exported with
//     `jupyter nbconvert --to html`.
// Screenshots are kept in tests/artifacts/. Needs the Debian packages chromium,
// jupyter-nbconvert and jupyter-notebook (which brings libjs-requirejs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { consoleHost, DisplayHandle, Host, MimeBundle, richBundle, setHost } from "../lib/host";
import { plot } from "../lib/viz";

const ROOT = path.resolve(__dirname, "..", "..");
const ARTIFACTS = path.join(ROOT, "tests", "artifacts");
const CHROMIUM = process.env.CHROMIUM ?? "chromium";
const JUPYTER = process.env.JUPYTER ?? "/usr/bin/jupyter";
const REQUIREJS = "/usr/share/javascript/requirejs/require.js"; // Debian libjs-requirejs (comes with jupyter-notebook)

/**
 * Runs headless Chromium with networking off on a page (a local file, or the
 * loopback notebook server — the only host reachable); returns stdout.
 */
function chromium(target: string, extra: string[]): string {
  const url = target.startsWith("http://127.0.0.1:") ? target : "file://" + target;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-chromium-"));
  try {
    const r = spawnSync(
      CHROMIUM,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        `--user-data-dir=${profile}`,
        // Networking off: no name resolves and every request goes to a closed port
        // (except 127.0.0.1, where the test's own notebook server may listen).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
        "--virtual-time-budget=20000",
        ...extra,
        url,
      ],
      { encoding: "utf8", timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
    );
    if (r.error) throw new Error(`could not run ${CHROMIUM} (install the Debian package chromium): ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${CHROMIUM} exited with ${r.status}: ${r.stderr.slice(-2000)}`);
    return r.stdout;
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

function dumpDom(file: string): string {
  return chromium(file, ["--dump-dom"]);
}

function screenshot(file: string, name: string, height: number): void {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const out = path.join(ARTIFACTS, name);
  chromium(file, ["--hide-scrollbars", `--window-size=1100,${height}`, `--screenshot=${out}`]);
  assert.ok(fs.statSync(out).size > 10_000, `screenshot ${out} was written`);
}

/** Elements plotly.js creates for each plot it draws. */
function countPlotContainers(dom: string): number {
  return (dom.match(/<div class="plot-container plotly"/g) ?? []).length;
}

function countFigureDivs(dom: string): { total: number; drawn: number } {
  // plotly.js adds its own classes (js-plotly-plot) to the div it draws into.
  const divs = dom.match(/<div id="llmlab-fig-[^"]*" class="llmlab-figure[ "][^>]*>/g) ?? [];
  return { total: divs.length, drawn: divs.filter((d) => d.includes("data-llmlab-drawn")).length };
}

/** Records outputs like a notebook frontend: an update replaces the output with the same display id. */
class PageHost implements Host {
  readonly interactive = true;
  outputs: Array<{ id?: string; bundle: MimeBundle }> = [];
  private n = 0;
  abortSignal() {
    return undefined;
  }
  display(obj: unknown, options: { id?: boolean | string } = {}): DisplayHandle {
    const id = options.id ? `d${++this.n}` : undefined;
    this.outputs.push({ id, bundle: richBundle(obj)! });
    return {
      id: id ?? "",
      update: (o: unknown) => {
        const i = this.outputs.findIndex((x) => x.id === id);
        this.outputs[i] = { id, bundle: richBundle(o)! };
      },
    };
  }
}

/** Shows six figures the ways a notebook does (display, live updates, dashboard, …) through `h`. */
function showSixFigures(h: PageHost): void {
  h.display(plot.line({ train: [3, 2.5, 2.1, 1.9], val: { x: [0, 3], y: [3.1, 2.2] } }, { title: "loss", logY: true }));
  h.display(plot.scatter([1e5, 1e6, 1e7], [3.2, 2.8, 2.5], { logX: true, logY: true, title: "scaling" }));
  const live = plot.live(plot.bar(["a"], [0], { title: "live 0" }), { minIntervalMs: 0 });
  for (let i = 1; i <= 5; i++) live.update(plot.bar(["a", "b"], [i, 2 * i], { title: `live ${i}` }));
  const dash = plot.dashboard({ total: 30, every: 10, minIntervalMs: 0 });
  for (let s = 1; s <= 30; s++) dash.log(s, { loss: 3 / s, lr: 1e-3 });
  dash.close();
  h.display(plot.heatmap([[1, 0], [0.4, 0.6]], { tokens: ["a", "a"], title: "attention" }));
  h.display(plot.subplots(1, 2, [plot.histogram([1, 2, 2, 3]), plot.bar({ x: 1, y: 2 })]));
}

test("figures from the library's bundles draw offline, with RequireJS on the page and plotly.js arriving last", (t) => {
  const h = new PageHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  showSixFigures(h);

  const isLibrary = (b: MimeBundle) => !("application/vnd.plotly.v1+json" in b);
  const library = h.outputs.filter((o) => isLibrary(o.bundle));
  const figures = h.outputs.filter((o) => !isLibrary(o.bundle));
  assert.equal(library.length, 1, "plotly.js sent once");
  assert.equal(figures.length, 6);
  assert.match(String(figures[2].bundle["text/plain"]), /bar/);
  assert.match(JSON.stringify(figures[2].bundle["application/vnd.plotly.v1+json"]), /live 5/, "the live figure shows its last update");

  const amd = fs.existsSync(REQUIREJS)
    ? `<script src="file://${REQUIREJS}"></script>`
    : // Without Debian's RequireJS, a stand-in that fails like RequireJS on an anonymous define().
      `<script>window.define = function () { throw new Error("Mismatched anonymous define() module"); }; window.define.amd = {};</script>`;
  const page =
    `<!DOCTYPE html><html><head><meta charset="utf-8"><title>llmlab figures</title>` +
    `<script>window.__errors = []; window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); ` +
    `var p = document.getElementById("errors"); if (p) p.textContent = window.__errors.join("\\n"); });</script>` +
    `${amd}</head><body><pre id="errors"></pre>\n` +
    figures.map((o) => `<div class="output">${o.bundle["text/html"]}</div>`).join("\n") +
    `\n<div class="output">${library[0].bundle["text/html"]}</div>\n` +
    `<script>document.getElementById("errors").textContent = window.__errors.join("\\n");` +
    `document.body.setAttribute("data-amd", typeof window.define === "function" && window.define.amd ? "yes" : "no");</script>` +
    `</body></html>`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-viz-page-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "page.html");
  fs.writeFileSync(file, page);

  const dom = dumpDom(file);
  assert.match(dom, /data-amd="yes"/, "an AMD loader was on the page");
  assert.match(dom, /<pre id="errors"><\/pre>/, `no script errors: ${dom.match(/<pre id="errors">([^<]*)/)?.[1]}`);
  assert.deepEqual(countFigureDivs(dom), { total: 6, drawn: 6 });
  assert.equal(countPlotContainers(dom), 6, "plotly.js drew every figure");
  screenshot(file, "viz-page.png", 2600);
});

/** A TCP port nobody listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      http.get(url, (res) => (res.resume(), resolve(res.statusCode === 200))).on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

/**
 * Reopens a saved notebook in classic Jupyter Notebook 6 (which loads RequireJS
 * and runs the scripts of trusted outputs) in headless Chromium; returns the DOM.
 * The notebook is signed (trusted) first, as the notebook a user saved is.
 */
async function openInClassicNotebook(notebook: string, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-classic-"));
  const jenv = {
    ...env,
    JUPYTER_DATA_DIR: path.join(dir, "data"),
    JUPYTER_RUNTIME_DIR: path.join(dir, "runtime"),
    JUPYTER_CONFIG_DIR: path.join(dir, "config"),
  };
  const name = path.basename(notebook);
  fs.copyFileSync(notebook, path.join(dir, name));
  run(
    "/usr/bin/python3",
    ["-c", "import sys, nbformat; from nbformat.sign import NotebookNotary; nb = nbformat.read(sys.argv[1], as_version=4); NotebookNotary().sign(nb)", path.join(dir, name)],
    { cwd: dir, env: jenv, timeout: 60_000 },
  );
  const port = await freePort();
  const server = spawn(
    JUPYTER,
    ["notebook", "--allow-root", "--no-browser", `--port=${port}`, "--ip=127.0.0.1", "--NotebookApp.token=", "--NotebookApp.password=", `--notebook-dir=${dir}`],
    { cwd: dir, env: jenv, stdio: "ignore" },
  );
  try {
    await waitForHttp(`http://127.0.0.1:${port}/api`, 60_000);
    return chromium(`http://127.0.0.1:${port}/notebooks/${encodeURIComponent(name)}`, ["--dump-dom"]);
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => (server.exitCode !== null ? r(null) : server.once("exit", r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("saved outputs draw in an nbconvert HTML export and when reopened in classic Notebook (RequireJS)", async (t) => {
  const h = new PageHost();
  setHost(h);
  t.after(() => setHost(consoleHost));
  showSixFigures(h);
  // One cell per output, in the order a kernel sent them (plotly.js first).
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    cells: h.outputs.map((o, i) => ({
      cell_type: "code",
      id: `cell-${i}`,
      metadata: {},
      source: `// output ${i}`,
      execution_count: i + 1,
      outputs: [{ output_type: "display_data", data: o.bundle, metadata: {} }],
    })),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-viz-saved-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "saved.ipynb");
  fs.writeFileSync(file, JSON.stringify(nb));
  run(JUPYTER, ["nbconvert", "--to", "html", "--output", "saved.html", "saved.ipynb"], { cwd: dir, env: process.env, timeout: 120_000 });
  const exported = dumpDom(path.join(dir, "saved.html"));
  assert.deepEqual(countFigureDivs(exported), { total: 6, drawn: 6 }, "nbconvert HTML");
  assert.equal(countPlotContainers(exported), 6);
  const classic = await openInClassicNotebook(file, process.env);
  assert.match(classic, /require\.js|requirejs/i, "classic Notebook loaded RequireJS");
  assert.deepEqual(countFigureDivs(classic), { total: 6, drawn: 6 }, "classic Notebook, reopened");
  assert.equal(countPlotContainers(classic), 6);
});

function run(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeout: number }): string {
  const r = spawnSync(cmd, args, { ...options, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.status}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

test(
  "a notebook executed through the llmlab kernel and exported with nbconvert draws every figure offline",
  { timeout: 600_000 },
  (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-viz-nb-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const prefix = path.join(dir, "prefix");
    const env = { ...process.env, JUPYTER_PATH: path.join(prefix, "share", "jupyter"), JUPYTER_PLATFORM_DIRS: "1" };
    run(process.execPath, [path.join(ROOT, "bin", "llmlab.js"), "install", "--prefix", prefix], { cwd: ROOT, env, timeout: 60_000 });
    fs.copyFileSync(path.join(ROOT, "tests", "fixtures", "viz", "figures.ipynb"), path.join(dir, "figures.ipynb"));
    run(
      JUPYTER,
      ["nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=llmlab", "--ExecutePreprocessor.timeout=300", "--output", "executed.ipynb", "figures.ipynb"],
      { cwd: dir, env, timeout: 420_000 },
    );
    const nb = JSON.parse(fs.readFileSync(path.join(dir, "executed.ipynb"), "utf8"));
    const outputs = nb.cells.flatMap((c: any) => c.outputs ?? []);
    const errors = outputs.filter((o: any) => o.output_type === "error");
    assert.deepEqual(errors, [], "no cell raised");
    const figures = outputs.filter((o: any) => o.data?.["application/vnd.plotly.v1+json"]);
    const libraries = outputs.filter((o: any) => String(o.data?.["text/html"] ?? "").includes('class="llmlab-plotlyjs"'));
    assert.equal(figures.length, 6, "six figures: last expression, display(), live, dashboard, heatmap, subplots");
    assert.equal(libraries.length, 1, "plotly.js is in the notebook exactly once");
    const live = figures.find((o: any) => JSON.stringify(o.data["application/vnd.plotly.v1+json"]).includes('"live '));
    assert.match(JSON.stringify(live.data["application/vnd.plotly.v1+json"].layout.title), /live 5/, "the live figure holds its last update");
    assert.ok(outputs.some((o: any) => String(o.data?.["text/html"] ?? "").includes("llmlab-progress")), "the progress bar rendered");
    assert.ok(outputs.some((o: any) => String(o.data?.["text/html"] ?? "").includes("2 rows × 2 columns")), "the DataFrame rendered");

    run(JUPYTER, ["nbconvert", "--to", "html", "--output", "executed.html", "executed.ipynb"], { cwd: dir, env, timeout: 120_000 });
    const html = path.join(dir, "executed.html");
    const dom = dumpDom(html);
    assert.deepEqual(countFigureDivs(dom), { total: 6, drawn: 6 });
    assert.equal(countPlotContainers(dom), 6, "plotly.js drew every figure in the exported HTML");
    screenshot(html, "viz-notebook.png", 4200);
  },
);
