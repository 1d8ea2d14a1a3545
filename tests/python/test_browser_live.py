"""A notebook run live in a real browser: classic Jupyter Notebook (Debian
`jupyter-notebook`) in headless Chromium (Debian `chromium`, networking off).

The page runs every cell through the llmlab kernel over the notebook server's
websocket (a custom.js in a temporary Jupyter config folder presses "Run All"
once the kernel is ready), and the test reads the DOM: every figure drawn by
plotly.js (including one updated in place through its display id), a DataFrame
shown as a table, no error output, and the code highlighted as TypeScript.
Chromium is driven over the DevTools protocol with tornado's websocket client
(tornado comes with the notebook server). A screenshot is kept in
tests/artifacts/live-notebook.png.
"""
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
from tornado.websocket import websocket_connect

from conftest import KERNEL_NAME, ROOT

JUPYTER = shutil.which("jupyter", path="/usr/bin") or "jupyter"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
#: The first cell waits for the compiler and the prelude; the rest are quick.
RUN_TIMEOUT_S = 240

# Presses "Run All" once, when the kernel first reports ready.
RUN_ALL_JS = """
require(['base/js/namespace', 'base/js/events'], function (Jupyter, events) {
  var started = false;
  function runAll() { if (!started) { started = true; Jupyter.notebook.execute_all_cells(); } }
  events.on('kernel_ready.Kernel', runAll);
  if (Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()) runAll();
});
"""

CELLS = [
    'plot.line({ train: [3.1, 2.4, 2.0, 1.8], val: [3.2, 2.6, 2.3, 2.2] }, { title: "loss" })',
    # A figure updated in place: the page must end with the last values.
    'const live = display(plot.bar(["a", "b"], [0, 0], { title: "live" }), { id: true });\n'
    "for (let i = 1; i <= 4; i++) {\n"
    "  await new Promise((r) => setTimeout(r, 30));\n"
    '  live.update(plot.bar(["a", "b"], [i, 2 * i], { title: "live" }));\n'
    "}",
    'display(plot.heatmap([[1, 0], [0.4, 0.6]], { tokens: ["T", "o"], title: "attention" }))',
    'new dfd.DataFrame({ model: ["gpt2", "ours"], loss: [3.3, 1.9] })',
    'const ids: number[] = tokenizer.encode("To be, or not to be");\nids.length',
]

STATE_JS = """JSON.stringify({
  prompts: [...document.querySelectorAll('.input_prompt')].map(e => e.textContent.replace(/\\s+/g, '')),
  plots: document.querySelectorAll('.plot-container').length,
  figures: [...document.querySelectorAll('.js-plotly-plot')].map(e => ({
    title: e.layout && e.layout.title && (e.layout.title.text || e.layout.title),
    y: e.data && e.data[0] && Array.from(e.data[0].y || []),
  })),
  tables: document.querySelectorAll('.output_html table').length,
  errors: [...document.querySelectorAll('.output_error')].map(e => e.textContent.slice(0, 500)),
  texts: [...document.querySelectorAll('.output_text pre')].map(e => e.textContent),
  mode: (() => { const cm = document.querySelector('.CodeMirror'); return cm ? JSON.stringify(cm.CodeMirror.getOption('mode')) : null; })(),
  highlighted: document.querySelectorAll('.CodeMirror-code span.cm-variable, .CodeMirror-code span.cm-string').length,
})"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


class DevTools:
    """The smallest DevTools-protocol client: call a method, wait for its result."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def call(self, method, **params):
        self.next_id += 1
        me = self.next_id
        await self.ws.write_message(json.dumps({"id": me, "method": method, "params": params}))
        while True:
            raw = await self.ws.read_message()
            if raw is None:
                raise ConnectionError("Chromium closed the DevTools connection")
            msg = json.loads(raw)
            if msg.get("id") == me:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


async def run_in_browser(page_url, devtools_port):
    tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json"))
    page = next(t for t in tabs if t["type"] == "page")
    ws = await websocket_connect(page["webSocketDebuggerUrl"], max_message_size=256 * 1024 * 1024)
    try:
        dt = DevTools(ws)
        await dt.call("Page.enable")
        await dt.call("Page.navigate", url=page_url)
        deadline = time.time() + RUN_TIMEOUT_S
        state = None
        while time.time() < deadline:
            await asyncio.sleep(1)
            state = json.loads(await dt.evaluate(STATE_JS) or "null")
            done = state and len(state["prompts"]) == len(CELLS) and all(
                p.startswith("In[") and p not in ("In[*]:", "In[]:") for p in state["prompts"]
            )
            if done:
                # Let plotly finish the last redraws before reading the page.
                await asyncio.sleep(2)
                state = json.loads(await dt.evaluate(STATE_JS))
                break
        shot = await dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "live-notebook.png").write_bytes(base64.b64decode(shot["data"]))
        return state
    finally:
        ws.close()


def test_a_notebook_runs_live_in_classic_notebook_in_chromium():
    assert shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), "needs the Debian package chromium"
    tmp = Path(tempfile.mkdtemp(prefix="llmlab-live-"))
    server = browser = None
    try:
        (tmp / "config" / "custom").mkdir(parents=True)
        (tmp / "config" / "custom" / "custom.js").write_text(RUN_ALL_JS)
        (tmp / "nb").mkdir()
        nb = nbformat.v4.new_notebook()
        nb.metadata.kernelspec = {"name": KERNEL_NAME, "display_name": "LLM Lab (TypeScript)", "language": "typescript"}
        nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
        nbformat.write(nb, str(tmp / "nb" / "live.ipynb"))

        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(tmp / "config"),
            JUPYTER_DATA_DIR=str(tmp / "data"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        )
        port = free_port()
        server = subprocess.Popen(
            [
                JUPYTER, "notebook", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
                "--NotebookApp.token=", "--NotebookApp.password=", f"--notebook-dir={tmp / 'nb'}",
            ],
            env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=open(tmp / "server.log", "w"),
        )
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/api"), 60, "the notebook server")

        profile = tmp / "chromium"
        browser = subprocess.Popen(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                # Networking off, except the loopback notebook server.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
                "--remote-debugging-port=0", "--window-size=1200,2400", "about:blank",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        active = profile / "DevToolsActivePort"
        wait_for(lambda: active.exists() and active.read_text().strip(), 60, "Chromium's DevTools port")
        devtools_port = int(active.read_text().split()[0])

        state = asyncio.run(run_in_browser(f"http://127.0.0.1:{port}/notebooks/live.ipynb", devtools_port))
        log = (tmp / "server.log").read_text()[-3000:]
        assert state, f"the page never showed the notebook\n{log}"
        assert all(p not in ("In[*]:", "In[]:") for p in state["prompts"]), f"not every cell ran: {state['prompts']}\n{log}"
        assert state["errors"] == [], state["errors"]
        assert state["plots"] == 3, state
        by_title = {f["title"]: f for f in state["figures"]}
        assert set(by_title) == {"loss", "live", "attention"}, state["figures"]
        assert by_title["live"]["y"] == [4, 8], "the figure updated in place shows its last values"
        assert state["tables"] >= 1, "the DataFrame shows as a table"
        assert "19" in state["texts"], state["texts"]
        assert "typescript" in (state["mode"] or ""), f"cells highlighted as {state['mode']}"
        assert state["highlighted"] > 0
    finally:
        for proc in (browser, server):
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
