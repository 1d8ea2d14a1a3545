"""Robustness of the llmlab kernel: forged and malformed messages, heartbeat
under load, interrupts, hostile user code. The kernel must keep serving."""
import json
import os
import signal
import threading
import time
import uuid

import pytest
import zmq
from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

from conftest import KERNEL_NAME, collect, execute, shell_reply, warm_up


@pytest.fixture(scope="module")
def shared_kernel():
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=60)
    warm_up(kc)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def assert_serving(kc, expected="42"):
    """The kernel answers kernel_info and runs a cell."""
    msg_id = kc.kernel_info()
    assert shell_reply(kc, msg_id, timeout=20)["content"]["status"] == "ok"
    reply, outputs = execute(kc, "6 * 7", timeout=60)
    assert reply["status"] == "ok", reply
    results = [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"]
    assert results == [expected]


def raw_socket(km, channel, kind=zmq.DEALER):
    ctx = zmq.Context.instance()
    sock = ctx.socket(kind)
    sock.linger = 0
    sock.identity = uuid.uuid4().hex.encode()
    port = getattr(km, f"{channel}_port")
    sock.connect(f"tcp://{km.ip}:{port}")
    time.sleep(0.2)  # let the connection settle before sending
    return sock


def error_of(outputs):
    errors = [c for t, c in outputs if t == "error"]
    assert len(errors) == 1, outputs
    return errors[0]


# ---- signatures and malformed frames ------------------------------------------------


def test_forged_signature_is_never_run(shared_kernel):
    km, kc = shared_kernel
    sock = raw_socket(km, "shell")
    forger = Session(key=b"not-the-real-key", signature_scheme="hmac-sha256")
    marker = "forged_" + uuid.uuid4().hex[:8]
    code = f"(globalThis as any).{marker} = 1"
    forger.send(sock, forger.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                                       "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}))
    # The same message without any signature.
    unsigned = Session(key=b"")
    unsigned.send(sock, unsigned.msg("execute_request", {"code": code, "silent": False}))
    assert sock.poll(1500) == 0, "a forged message was answered"
    reply, outputs = execute(kc, f"typeof (globalThis as any).{marker}")
    assert reply["status"] == "ok"
    assert [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"] == ["'undefined'"]
    sock.close()


def test_replayed_message_is_run_once(shared_kernel):
    km, kc = shared_kernel
    execute(kc, "let replayCount = 0")
    sock = raw_socket(km, "shell")
    session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme)
    msg = session.msg("execute_request", {"code": "replayCount++", "silent": False, "store_history": False,
                                          "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
    frames = session.serialize(msg)
    sock.send_multipart(frames)
    assert sock.poll(30000), "the valid message was not answered"
    sock.recv_multipart()
    sock.send_multipart(frames)  # replay: same signature
    assert sock.poll(1500) == 0, "a replayed message was answered"
    reply, outputs = execute(kc, "replayCount")
    assert [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"] == ["1"]
    sock.close()


def test_hundreds_of_malformed_frames(shared_kernel):
    km, kc = shared_kernel
    session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme)

    def signed(header, parent=b"{}", metadata=b"{}", content=b"{}"):
        frames = [header, parent, metadata, content]
        return [b"<IDS|MSG>", session.sign(frames)] + frames

    def header(msg_type):
        return session.pack(session.msg_header(msg_type))

    good_header = header("execute_request")
    garbage = [
        [],
        [b""],
        [b"no delimiter at all"],
        [b"<IDS|MSG>"],
        [b"<IDS|MSG>", b"sig", b"{}"],
        [b"<IDS|MSG>", b"", b"{}", b"{}", b"{}", b"{}"],
        [b"<IDS|MSG>", b"deadbeef", b"{}", b"{}", b"{}", b"{}"],
        signed(b"not json"),
        signed(b"[1, 2, 3]"),
        signed(b"{}"),
        signed(b'{"msg_type": 5}'),
        signed(b"\xff\xfe\xfd"),
        signed(good_header, content=b"{not json"),
        signed(good_header, content=b'"a string"'),
        signed(good_header, content=b'{"code": 42}'),
        signed(header("no_such_request")),
        signed(header("complete_request"), content=b'{"code": null}'),
        [b"<IDS|MSG>", b"x" * 64] + [os.urandom(1000) for _ in range(4)],
        [b"<IDS|MSG>", b"sig"] + [b"\x00" * (8 << 20)] * 4,
    ]
    socks = [raw_socket(km, ch) for ch in ("shell", "control", "stdin")]
    sent = 0
    for round_ in range(12):
        for sock in socks:
            for frames in garbage:
                if frames and len(frames[-1]) > (1 << 20) and (round_ > 0 or sock is not socks[0]):
                    continue  # one huge message is enough
                sock.send_multipart(frames if frames else [b""])
                sent += 1
    assert sent >= 300
    # Errors in content of validly signed requests are answered with error replies.
    replies = []
    while socks[0].poll(2000):
        frames = socks[0].recv_multipart()
        replies.append(session.deserialize(frames[frames.index(b"<IDS|MSG>") + 1:]))
    assert replies, "no error reply to a signed request with a broken content frame"
    assert all(r["content"]["status"] == "error" for r in replies)
    assert {"execute_reply", "no_such_reply", "complete_reply"} <= {r["msg_type"] for r in replies}
    for sock in socks:
        sock.close()
    assert_serving(kc)


# ---- heartbeat and control during a synchronous loop -------------------------------------


def test_heartbeat_and_control_answer_during_a_5s_sync_loop(shared_kernel):
    km, kc = shared_kernel
    pings = []
    control_replies = []

    def probe():
        hb = raw_socket(km, "hb", zmq.REQ)
        time.sleep(0.8)
        for _ in range(6):
            t = time.time()
            hb.send(b"ping")
            if hb.poll(1000):
                assert hb.recv() == b"ping"
                pings.append(time.time() - t)
            time.sleep(0.4)
        hb.close()
        # kernel_info on the control channel, answered by the transport worker.
        ctrl = raw_socket(km, "control")
        session = Session(key=km.session.key, signature_scheme=km.session.signature_scheme)
        t = time.time()
        session.send(ctrl, session.msg("kernel_info_request", {}))
        if ctrl.poll(1000):
            control_replies.append(time.time() - t)
        ctrl.close()

    thread = threading.Thread(target=probe)
    msg_id = kc.execute("const t0 = Date.now(); while (Date.now() - t0 < 5000) {} 'loop done'")
    thread.start()
    thread.join()
    reply = shell_reply(kc, msg_id, timeout=30)
    assert reply["content"]["status"] == "ok"
    assert len(pings) == 6 and max(pings) < 1.0, pings
    assert len(control_replies) == 1, "control kernel_info not answered during the loop"


# ---- interrupts -------------------------------------------------------------------------


def interrupt_and_wait(km, kc, code, how="message", after=1.0):
    """Starts code, interrupts it after `after` s; returns (reply, outputs, seconds from interrupt to reply)."""
    msg_id = kc.execute(code)
    time.sleep(after)
    t = time.time()
    if how == "message":
        km.interrupt_kernel()
    else:
        os.kill(km.provisioner.process.pid, signal.SIGINT)
    reply = shell_reply(kc, msg_id, timeout=20)
    elapsed = time.time() - t
    outputs = collect(kc, msg_id)
    return reply["content"], outputs, elapsed


@pytest.mark.parametrize("how", ["message", "signal"])
def test_interrupt_sync_infinite_loop(shared_kernel, how):
    km, kc = shared_kernel
    execute(kc, "let spins = 0")
    reply, outputs, elapsed = interrupt_and_wait(km, kc, "while (true) { spins++ }", how)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert error_of(outputs)["ename"] == "KeyboardInterrupt"
    assert elapsed < 1.0, f"interrupt took {elapsed:.2f} s"
    reply, outputs = execute(kc, "spins > 0")
    assert [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"] == ["true"], (reply, outputs)


@pytest.mark.parametrize("how", ["message", "signal"])
def test_interrupt_awaiting_loop_stops_for_good(shared_kernel, how):
    km, kc = shared_kernel
    execute(kc, "let steps = 0; const nap = (ms: number) => new Promise((r) => setTimeout(r, ms));")
    reply, outputs, elapsed = interrupt_and_wait(km, kc, "for (;;) { steps++; await nap(10) }", how)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert elapsed < 1.0, f"interrupt took {elapsed:.2f} s"
    reply, outputs = execute(kc, "const before = steps; await nap(500); [before > 0, steps - before]")
    assert reply["status"] == "ok", reply
    assert [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"] == ["[ true, 0 ]"]


def test_interrupt_reaches_background_work_and_abort_signal(shared_kernel):
    km, kc = shared_kernel
    # A loop the cell did not await, and a library-style loop that only watches the AbortSignal.
    execute(kc, "let bg = 0; let aborted = false;")
    code = (
        "(async () => { for (;;) { bg++; await new Promise((r) => setTimeout(r, 5)); } })();\n"
        "const signal = kernel.signal!;\n"
        "await new Promise<void>((resolve) => signal.addEventListener('abort', () => { aborted = true; resolve(); }));"
    )
    reply, outputs, elapsed = interrupt_and_wait(km, kc, code)
    assert reply["ename"] == "KeyboardInterrupt" and elapsed < 1.0
    reply, outputs = execute(kc, "const b0 = bg; await new Promise((r) => setTimeout(r, 300)); [aborted, bg - b0]")
    assert [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"] == ["[ true, 0 ]"]


def test_interrupt_uninstrumented_library_code(shared_kernel, tmp_path):
    km, kc = shared_kernel
    lib = tmp_path / "busy.js"
    lib.write_text("exports.spin = function () { for (;;) {} };\n")
    reply, outputs, elapsed = interrupt_and_wait(km, kc, f"require({json.dumps(str(lib))}).spin()")
    assert reply["ename"] == "KeyboardInterrupt" and elapsed < 1.0, (reply, elapsed)
    assert_serving(kc)


def test_interrupt_while_idle_does_not_break_the_next_cell(shared_kernel):
    km, kc = shared_kernel
    km.interrupt_kernel()
    os.kill(km.provisioner.process.pid, signal.SIGINT)
    time.sleep(0.3)
    reply, outputs = execute(kc, "let k = 0; for (let i = 0; i < 1e6; i++) k++; k")
    assert reply["status"] == "ok", reply
    assert [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"] == ["1000000"]


# ---- hostile user code -------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, ename",
    [
        ("throw 42", "Uncaught"),
        ('throw "a string"', "Uncaught"),
        ("throw null", "Uncaught"),
        ("throw undefined", "Uncaught"),
        ("throw { code: 7 }", "Uncaught"),
        ("throw new Proxy({}, { get() { throw new Error('trap'); }, getPrototypeOf() { throw new Error('trap'); } })", None),
        ("throw Object.assign(new Error('custom'), { name: 'MyError' })", "MyError"),
        ("class E extends Error { get message(): string { throw new Error('getter'); } }\nthrow new E()", None),
    ],
)
def test_non_error_throws_keep_the_kernel_alive(shared_kernel, code, ename):
    km, kc = shared_kernel
    reply, outputs = execute(kc, code)
    assert reply["status"] == "error"
    err = error_of(outputs)
    assert isinstance(err["evalue"], str) and all(isinstance(t, str) for t in err["traceback"])
    if ename:
        assert err["ename"] == ename
    assert_serving(kc)


def test_unhandled_rejection_and_uncaught_timer_error(shared_kernel):
    km, kc = shared_kernel
    reply, outputs = execute(kc, "Promise.reject(new Error('nobody catches me')); setTimeout(() => { throw new Error('from a timer'); }, 10); 'scheduled'")
    assert reply["status"] == "ok"
    time.sleep(0.5)
    reply, outputs = execute(kc, "'still here'")
    assert [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"] == ["'still here'"]
    assert_serving(kc)


def test_five_megabyte_strings(shared_kernel):
    km, kc = shared_kernel
    n = 5 * 1024 * 1024
    reply, outputs = execute(kc, f"console.log('y'.repeat({n}))", timeout=60)
    assert reply["status"] == "ok"
    assert sum(len(c["text"]) for t, c in outputs if t == "stream" and c["name"] == "stdout") == n + 1
    reply, outputs = execute(kc, f"'x'.repeat({n})", timeout=60)
    assert reply["status"] == "ok"
    text = [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"][0]
    assert text.startswith("'xxxx") and "more characters" in text
    big = "z" * n
    reply, outputs = execute(kc, f'const big = "{big}";\nbig.length', timeout=120)
    assert reply["status"] == "ok", reply
    assert [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"] == [str(n)]
    assert_serving(kc)


def test_stop_on_error_aborts_queued_requests(shared_kernel):
    km, kc = shared_kernel
    ids = [kc.execute("throw new Error('first')"), kc.execute("console.log('never')"), kc.execute("'never either'")]
    statuses = [shell_reply(kc, i)["content"]["status"] for i in ids]
    assert statuses == ["error", "aborted", "aborted"]
    ids = [kc.execute("throw new Error('again')", stop_on_error=False), kc.execute("'runs'")]
    statuses = [shell_reply(kc, i)["content"]["status"] for i in ids]
    assert statuses == ["error", "ok"]
    for i in ids:
        collect(kc, i)
