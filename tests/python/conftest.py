"""Shared set-up of the kernel tests.

At import (before any test class starts a kernel) the llmlab kernelspec is
installed into a temporary JUPYTER_PATH, and XDG_DATA_HOME points at a temporary
folder, so the tests never touch the real user's kernels or history.
"""
import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node") or "node"
KERNEL_NAME = "llmlab-test"

_tmp = Path(tempfile.mkdtemp(prefix="llmlab-kernel-tests-"))
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)


def _install_kernelspec(prefix: Path, name: str, *extra: str) -> Path:
    subprocess.run(
        [NODE, str(ROOT / "bin" / "llmlab.js"), "install", "--prefix", str(prefix), "--name", name, *extra],
        check=True,
        capture_output=True,
    )
    return prefix / "share" / "jupyter" / "kernels" / name


SPEC_DIR = _install_kernelspec(_tmp / "prefix", KERNEL_NAME)
os.environ["JUPYTER_PATH"] = str(_tmp / "prefix" / "share" / "jupyter")
os.environ["XDG_DATA_HOME"] = str(_tmp / "data")
os.environ["JUPYTER_RUNTIME_DIR"] = str(_tmp / "runtime")
os.environ.pop("LLMLAB_PRELUDE", None)

#: The first execute waits for the TypeScript compiler and the prelude.
WARMUP_TIMEOUT = 300


def warm_up(kc, timeout=WARMUP_TIMEOUT):
    """Runs a trivial cell so that later timeouts measure the kernel, not its start-up."""
    reply = kc.execute_interactive("0", timeout=timeout, store_history=False, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok", reply["content"]


def collect(kc, msg_id, timeout=30):
    """IOPub messages of one request until it goes idle: [(msg_type, content), ...]."""
    out = []
    deadline = time.time() + timeout
    while True:
        remaining = deadline - time.time()
        if remaining <= 0:
            raise TimeoutError(f"request {msg_id} did not go idle within {timeout} s")
        msg = kc.get_iopub_msg(timeout=remaining)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out
        if msg["msg_type"] != "status":
            out.append((msg["msg_type"], msg["content"]))


def shell_reply(kc, msg_id, timeout=30):
    """The shell reply to `msg_id` (skipping replies to other requests)."""
    deadline = time.time() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(0.01, deadline - time.time()))
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


def execute(kc, code, timeout=30, **kwargs):
    """Runs code; returns (reply content, [(msg_type, content), ...])."""
    msg_id = kc.execute(code, **kwargs)
    outputs = collect(kc, msg_id, timeout)
    return shell_reply(kc, msg_id, timeout)["content"], outputs


def spec_json():
    return json.loads((SPEC_DIR / "kernel.json").read_text())
