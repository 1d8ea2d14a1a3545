"""Features of the llmlab kernel beyond the conformance suite: the prelude hook,
imports from any folder, persistent history, stdin, comms, display ids,
completion/inspection details, the kernelspec and the CLI."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from conftest import KERNEL_NAME, NODE, ROOT, SPEC_DIR, collect, execute, shell_reply, warm_up


def results(outputs):
    return [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"]


def start(**kwargs):
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=60, **kwargs)
    return km, kc


def stop(km, kc):
    kc.stop_channels()
    km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def k():
    km, kc = start()
    warm_up(kc)
    yield km, kc
    stop(km, kc)


# ---- prelude ---------------------------------------------------------------------------


def test_prelude_declarations_are_typed_globals_and_set_the_banner(tmp_path):
    prelude = tmp_path / "prelude.ts"
    prelude.write_text(
        "/** Seven, from the prelude. */\n"
        "const preludeValue: number = 7;\n"
        "function preludeDouble(x: number): number { return 2 * x; }\n"
        'kernel.setBanner("llmlab test banner: prelude loaded");\n'
    )
    km, kc = start(env={**os.environ, "LLMLAB_PRELUDE": str(prelude)})
    try:
        warm_up(kc)
        reply, outputs = execute(kc, "preludeDouble(preludeValue) * 3")
        assert results(outputs) == ["42"]
        reply, outputs = execute(kc, "const wrong: string = preludeValue;")
        assert reply["status"] == "error" and reply["ename"] == "TSError"
        msg_id = kc.kernel_info()
        assert shell_reply(kc, msg_id)["content"]["banner"] == "llmlab test banner: prelude loaded"
    finally:
        stop(km, kc)


def test_a_failing_prelude_is_reported_and_the_kernel_works(tmp_path):
    prelude = tmp_path / "broken.ts"
    prelude.write_text("const ok = 1;\nthrow new Error('prelude exploded');\n")
    km, kc = start(env={**os.environ, "LLMLAB_PRELUDE": str(prelude)})
    try:
        reply, outputs = execute(kc, "1 + 1", timeout=300)
        assert reply["status"] == "ok"
        stderr = "".join(c["text"] for t, c in outputs if t == "stream" and c["name"] == "stderr")
        assert "prelude exploded" in stderr and str(prelude) in stderr
        assert results(outputs) == ["2"]
    finally:
        stop(km, kc)


def test_empty_prelude_variable_disables_the_prelude():
    km, kc = start(env={**os.environ, "LLMLAB_PRELUDE": ""})
    try:
        reply, outputs = execute(kc, "typeof kernel.version", timeout=300)
        assert results(outputs) == ["'string'"]
    finally:
        stop(km, kc)


# ---- imports from any folder -------------------------------------------------------------


def test_imports_work_from_a_folder_outside_the_project(tmp_path):
    (tmp_path / "helper.ts").write_text("export function triple(x: number): number { return 3 * x; }\n")
    km, kc = start(cwd=str(tmp_path))
    try:
        warm_up(kc)
        code = (
            'import { DISPLAY_SYMBOL, host } from "llmlab";\n'
            'import { triple } from "./helper";\n'
            'import { getEncoding } from "js-tiktoken";\n'
            "const s: symbol = DISPLAY_SYMBOL;\n"
            "[typeof s, typeof host, triple(14), typeof getEncoding, process.cwd()].join(' ')"
        )
        reply, outputs = execute(kc, code, timeout=120)
        assert reply["status"] == "ok", reply
        assert results(outputs) == [f"'symbol function 42 function {tmp_path}'"]
        # Types come along: a wrong use of the library is a type error.
        reply, outputs = execute(kc, "const n: number = DISPLAY_SYMBOL;")
        assert reply["status"] == "error" and "not assignable" in reply["evalue"]
        reply, outputs = execute(kc, 'import { nothingHere } from "no-such-package-llmlab";')
        assert reply["status"] == "error"
        # A value whose type comes from one of the library's packages (a danfo
        # DataFrame) is declared for the next cells from here too.
        reply, outputs = execute(kc, "const table = new dfd.DataFrame({ a: [1, 2], b: ['x', 'y'] });", timeout=120)
        assert reply["status"] == "ok", reply
        reply, outputs = execute(kc, "table.shape")
        assert reply["status"] == "ok", reply
        assert results(outputs) == ["[ 2, 2 ]"]
    finally:
        stop(km, kc)


# ---- history -----------------------------------------------------------------------------


def test_history_persists_across_restarts():
    km, kc = start()
    try:
        warm_up(kc)
        marker = f"'history marker {time.time()}'"
        execute(kc, marker)
        execute(kc, "1 + 2")
        msg_id = kc.history(hist_access_type="tail", n=2, output=True, raw=True)
        tail = shell_reply(kc, msg_id)["content"]["history"]
        assert [h[2][0] for h in tail] == [marker, "1 + 2"]
        assert tail[1][2][1] == "3"
        first_session = tail[0][0]
        km.restart_kernel(now=True)
        kc.wait_for_ready(timeout=60)
        warm_up(kc)
        execute(kc, "'after restart'")
        msg_id = kc.history(hist_access_type="search", pattern="'history marker *", output=False, raw=True)
        found = shell_reply(kc, msg_id)["content"]["history"]
        assert [h[2] for h in found] == [marker] and found[0][0] == first_session
        msg_id = kc.history(hist_access_type="range", session=0, start=1, stop=100, output=False, raw=True)
        current = shell_reply(kc, msg_id)["content"]["history"]
        assert [h[2] for h in current] == ["'after restart'"] and current[0][0] > first_session
        msg_id = kc.history(hist_access_type="range", session=-1, start=0, stop=100, output=False, raw=True)
        previous = shell_reply(kc, msg_id)["content"]["history"]
        assert marker in [h[2] for h in previous]
    finally:
        stop(km, kc)


# ---- stdin -------------------------------------------------------------------------------


def test_input_and_prompt(k):
    km, kc = k
    msg_id = kc.execute("const who = await input('Name? '); `hello ${who}`", allow_stdin=True)
    request = kc.get_stdin_msg(timeout=30)
    assert request["msg_type"] == "input_request" and request["content"]["prompt"] == "Name? "
    kc.input("Ada")
    assert shell_reply(kc, msg_id)["content"]["status"] == "ok"
    assert results(collect(kc, msg_id)) == ["'hello Ada'"]

    msg_id = kc.execute("prompt('Sync? ').toUpperCase()", allow_stdin=True)
    request = kc.get_stdin_msg(timeout=30)
    assert request["content"]["prompt"] == "Sync? "
    kc.input("grace")
    assert shell_reply(kc, msg_id)["content"]["status"] == "ok"
    assert results(collect(kc, msg_id)) == ["'GRACE'"]

    msg_id = kc.execute("await input('secret', { password: true })", allow_stdin=True)
    request = kc.get_stdin_msg(timeout=30)
    assert request["content"]["password"] is True
    kc.input("s3cret")
    assert shell_reply(kc, msg_id)["content"]["status"] == "ok"
    collect(kc, msg_id)

    reply, outputs = execute(kc, "await input('no stdin')", allow_stdin=False)
    assert reply["status"] == "error" and reply["ename"] == "StdinNotImplementedError"


def test_interrupt_while_waiting_for_input(k):
    km, kc = k
    for code in ("await input('wait')", "prompt('wait')"):
        msg_id = kc.execute(code, allow_stdin=True)
        kc.get_stdin_msg(timeout=30)
        t = time.time()
        km.interrupt_kernel()
        reply = shell_reply(kc, msg_id, timeout=10)["content"]
        assert reply["ename"] == "KeyboardInterrupt" and time.time() - t < 1.0
        collect(kc, msg_id)
    reply, outputs = execute(kc, "'fine'")
    assert results(outputs) == ["'fine'"]


# ---- display -----------------------------------------------------------------------------


def test_display_ids_updates_and_clear_output(k):
    km, kc = k
    code = (
        "const h = display('first', { id: true });\n"
        "h.update({ 'text/html': '<b>second</b>', 'text/plain': 'second' });\n"
        "display('again', { id: h.id });\n"
        "clearOutput({ wait: true });"
    )
    reply, outputs = execute(kc, code)
    assert reply["status"] == "ok"
    kinds = [t for t, _ in outputs if t != "execute_input"]
    assert kinds == ["display_data", "update_display_data", "display_data", "clear_output"]
    shown, updated, again, cleared = [c for t, c in outputs if t != "execute_input"]
    display_id = shown["transient"]["display_id"]
    assert updated["transient"]["display_id"] == display_id == again["transient"]["display_id"]
    assert updated["data"]["text/html"] == "<b>second</b>"
    assert cleared["wait"] is True
    # The handle returned by display() is not echoed as the cell's result.
    assert results(outputs) == []


def test_image_metadata_and_rich_objects(k):
    km, kc = k
    reply, outputs = execute(kc, "display.png(new Uint8Array([137, 80, 78, 71]), { width: 120 })")
    data = [c for t, c in outputs if t == "display_data"][0]
    assert data["data"]["image/png"] == "iVBORw=="
    assert data["metadata"] == {"image/png": {"width": 120}}
    reply, outputs = execute(kc, "display.html(42 as any)")
    assert reply["status"] == "error" and "display.html expects a string" in reply["evalue"]


# ---- completion, inspection, is_complete, user_expressions --------------------------------


def test_completion_metadata_and_code_point_offsets(k):
    km, kc = k
    code = "const emoji = '😀'; Math.fl"
    msg_id = kc.complete(code, len(code))
    content = shell_reply(kc, msg_id)["content"]
    assert "floor" in content["matches"]
    assert content["cursor_end"] == len(code) and content["cursor_start"] == len(code) - 2
    kinds = {m["text"]: m["type"] for m in content["metadata"]["_jupyter_types_experimental"]}
    assert kinds["floor"] == "method"


def test_inspect_shows_signature_and_doc_comment(k):
    km, kc = k
    execute(kc, "/**\n * Halves a number.\n * @param n the number\n * @example half(4) // 2\n */\nfunction half(n: number): number { return n / 2; }")
    for level in (0, 1):
        msg_id = kc.inspect("half(3)", 2, level)
        content = shell_reply(kc, msg_id)["content"]
        assert content["found"] is True
        text = content["data"]["text/plain"]
        assert "function half(n: number): number" in text and "Halves a number." in text
        assert ("@example" in text) == (level == 1)
    msg_id = kc.inspect("   ", 1, 0)
    assert shell_reply(kc, msg_id)["content"]["found"] is False


def test_is_complete_gives_an_indent(k):
    km, kc = k
    msg_id = kc.is_complete("function f() {")
    content = shell_reply(kc, msg_id)["content"]
    assert content == {"status": "incomplete", "indent": "  "}


def test_user_expressions(k):
    km, kc = k
    reply, _ = execute(kc, "const base = 20", user_expressions={"ok": "base * 2 + 2", "bad": "base.nope"})
    assert reply["user_expressions"]["ok"]["data"]["text/plain"] == "42"
    assert reply["user_expressions"]["bad"]["status"] == "error"


# ---- comms -------------------------------------------------------------------------------


def test_comm_registry(k):
    km, kc = k
    execute(kc, "kernel.comms.registerTarget('echo', (comm, data) => { comm.onMessage = (d) => comm.send({ echo: d }); });")
    msg = kc.session.msg("comm_open", {"comm_id": "comm-1", "target_name": "echo", "data": {}})
    kc.shell_channel.send(msg)
    collect(kc, msg["header"]["msg_id"])
    msg_id = kc.comm_info(target_name="echo")
    assert shell_reply(kc, msg_id)["content"]["comms"] == {"comm-1": {"target_name": "echo"}}
    msg = kc.session.msg("comm_msg", {"comm_id": "comm-1", "data": {"x": 1}})
    kc.shell_channel.send(msg)
    assert collect(kc, msg["header"]["msg_id"]) == [("comm_msg", {"comm_id": "comm-1", "data": {"echo": {"x": 1}}})]
    msg = kc.session.msg("comm_close", {"comm_id": "comm-1", "data": {}})
    kc.shell_channel.send(msg)
    collect(kc, msg["header"]["msg_id"])
    msg_id = kc.comm_info()
    assert shell_reply(kc, msg_id)["content"]["comms"] == {}
    # A comm opened by the kernel.
    reply, outputs = execute(kc, "kernel.comms.open('from-kernel', { hello: 1 }).id")
    opened = [c for t, c in outputs if t == "comm_open"][0]
    assert opened["target_name"] == "from-kernel" and opened["data"] == {"hello": 1}
    # An unknown target is closed at once.
    msg = kc.session.msg("comm_open", {"comm_id": "comm-2", "target_name": "nobody", "data": {}})
    kc.shell_channel.send(msg)
    assert collect(kc, msg["header"]["msg_id"]) == [("comm_close", {"comm_id": "comm-2", "data": {}})]


# ---- kernel_info, kernelspec, CLI, shutdown ------------------------------------------------


def test_kernel_info_content(k):
    km, kc = k
    msg_id = kc.kernel_info()
    content = shell_reply(kc, msg_id)["content"]
    assert content["status"] == "ok" and content["protocol_version"] == "5.3"
    assert content["implementation"] == "llmlab"
    info = content["language_info"]
    assert info["name"] == "typescript" and info["file_extension"] == ".ts"
    for field in ("version", "mimetype", "codemirror_mode", "pygments_lexer"):
        assert info[field]
    assert content["banner"] and content["help_links"]


def test_kernelspec_written_by_install():
    spec = json.loads((SPEC_DIR / "kernel.json").read_text())
    assert spec["interrupt_mode"] == "message"
    assert spec["language"] == "typescript"
    assert Path(spec["argv"][0]).is_absolute() and Path(spec["argv"][1]).is_absolute()
    assert spec["argv"][2:] == ["kernel", "--connection-file", "{connection_file}"]
    for logo in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
        assert (SPEC_DIR / logo).stat().st_size > 0
    assert (SPEC_DIR / "logo-64x64.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_install_options_and_version(tmp_path):
    env = {**os.environ, "JUPYTER_DATA_DIR": str(tmp_path / "user")}
    cli = [NODE, str(ROOT / "bin" / "llmlab.js")]
    out = subprocess.run(cli + ["install", "--user", "--name", "ll2", "--display-name", "LL two", "--prelude", "p.ts"],
                         env=env, capture_output=True, text=True, check=True)
    spec = json.loads((tmp_path / "user" / "kernels" / "ll2" / "kernel.json").read_text())
    assert spec["display_name"] == "LL two" and spec["argv"][-2:] == ["--prelude", str(Path("p.ts").resolve())]
    assert "ll2" in out.stdout
    subprocess.run(cli + ["install", "--prefix", str(tmp_path / "pfx")], env=env, check=True, capture_output=True)
    spec = json.loads((tmp_path / "pfx" / "share" / "jupyter" / "kernels" / "llmlab" / "kernel.json").read_text())
    assert spec["display_name"] == "LLM Lab (TypeScript)"
    version = subprocess.run(cli + ["--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert version == json.loads((ROOT / "package.json").read_text())["version"]
    bad = subprocess.run(cli + ["install", "--user", "--prefix", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "choose one of" in bad.stderr
    bad = subprocess.run(cli + ["frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown command" in bad.stderr


def test_shutdown_with_restart_flag_ends_the_process():
    km, kc = start()
    try:
        pid = km.provisioner.process.pid
        msg_id = kc.shutdown(restart=True)
        reply = kc.get_control_msg(timeout=10) if hasattr(kc, "get_control_msg") else None
        if reply is not None:
            assert reply["content"] == {"status": "ok", "restart": True}
        for _ in range(100):
            if km.provisioner.process.poll() is not None:
                break
            time.sleep(0.1)
        assert km.provisioner.process.poll() is not None, f"kernel {pid} still running after shutdown_request"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# ---- language corners ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, expected",
    [
        ("export const exported = 20; exported + 1", "21"),
        ("export function ef() { return 2 }\nexport { ef as eff };\nef()", "2"),
        ("async function* agen() { for (let i = 0; i < 3; i++) { await null; yield i; } }\n"
         "const got: number[] = [];\nfor await (const v of agen()) got.push(v);\ngot", "[ 0, 1, 2 ]"),
        ("outer: for (let i = 0; i < 3; i++) { for (;;) { continue outer; } }\n'labels'", "'labels'"),
        ("enum Color { Red, Green }\nColor.Green", "1"),
        ("class Base { constructor(public n: number) {} }\nclass Derived extends Base { constructor() { super(5); } }\nnew Derived().n", "5"),
        ("const big = 10n ** 20n; big", "100000000000000000000n"),
        ("Promise.resolve(3)", "Promise { 3 }"),
        ("const awaited = await (async () => 7)();\nawaited", "7"),
    ],
)
def test_language_corners(k, code, expected):
    km, kc = k
    reply, outputs = execute(kc, code)
    assert reply["status"] == "ok", reply
    assert results(outputs) == [expected]


def test_process_exit_is_an_error_not_a_dead_kernel(k):
    km, kc = k
    reply, outputs = execute(kc, "process.exit(1)")
    assert reply["status"] == "error" and reply["ename"] == "SystemExit"
    reply, outputs = execute(kc, "'alive'")
    assert results(outputs) == ["'alive'"]


def test_runtime_errors_point_into_the_cells(k):
    km, kc = k
    execute(kc, "function explode(n: number): number {\n  const table: any = null;\n  return table[n];\n}")
    reply, outputs = execute(kc, "const first = 1;\n\n// a comment\nexplode(first)")
    assert reply["status"] == "error" and reply["ename"] == "TypeError"
    traceback = "\n".join(reply["traceback"])
    import re
    frames = re.findall(r"In\[(\d+)\]:(\d+):(\d+)", traceback)
    lines = [(int(cell), int(line)) for cell, line, _ in frames]
    count = reply["execution_count"]
    assert (count - 1, 3) in lines, traceback  # inside explode(), line 3 of its cell
    assert (count, 4) in lines, traceback  # the call, line 4 of this cell


def test_the_default_prelude_runs_clean(tmp_path):
    """kernel/prelude.ts (what every notebook starts with) runs without errors,
    also when the notebook lives outside the project, and its globals are there."""
    env = {k: v for k, v in os.environ.items() if k != "LLMLAB_PRELUDE"}
    km, kc = start(env=env, cwd=str(tmp_path))
    try:
        code = ("[typeof tf, typeof llm, typeof plot, typeof dfd, typeof device, "
                "model.config.vocabSize, tokenizer.vocabSize].join(' ')")
        reply, outputs = execute(kc, code, timeout=300)
        assert reply["status"] == "ok", reply
        stderr = "".join(c["text"] for t, c in outputs if t == "stream" and c["name"] == "stderr")
        assert "prelude" not in stderr, stderr
        assert results(outputs) == ["'object object object object function 65 65'"]
    finally:
        stop(km, kc)
