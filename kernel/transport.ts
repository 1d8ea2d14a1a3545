/**
 * The transport: all five ZMQ sockets, run in a worker thread so that the
 * heartbeat, the control channel (interrupt, shutdown, kernel_info) and stdin
 * keep answering while the main thread is busy in a synchronous loop.
 *
 * The worker verifies every incoming message (HMAC, replayed signatures,
 * malformed frames) before anything reaches the main thread, and signs every
 * outgoing one. The main thread only ever sees decoded, trusted messages.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { writeSync } from "node:fs";
import {
  ConnectionInfo,
  Incoming,
  Message,
  Signer,
  WireError,
  decode,
  encode,
  endpoint,
  makeMessage,
  replyType,
} from "./wire";

/** Indices into the shared `Int32Array` of control words. */
export const SHARED = {
  /** Non-zero while an interrupt is pending; cell code checks it in every loop iteration. */
  INTERRUPT: 0,
  /** State of a synchronous `prompt()`: see {@link STDIN}. */
  STDIN_STATE: 1,
  /** Byte length of the answer in the stdin buffer. */
  STDIN_LENGTH: 2,
  /** Counts interrupt requests; a cell only honours those made after it started. */
  INTERRUPT_SEQ: 3,
  /** 1 while the main thread runs the synchronous part of a cell (where SIGINT breaks any code). */
  IN_SCRIPT: 4,
  /** SIGINTs the worker sent and the main thread has not seen yet (to tell them from a user's Ctrl-C). */
  PENDING_SIGINTS: 5,
  /** Counts the synchronous cell runs, so the worker knows the one it saw is still the one running. */
  SCRIPT_ID: 6,
  /** Number of words. */
  SIZE: 8,
} as const;

/** States of {@link SHARED.STDIN_STATE}. */
export const STDIN = { IDLE: 0, WAITING: 1, READY: 2, INTERRUPTED: 3, TOO_LONG: 4 } as const;

/** Size of the shared buffer that carries a synchronous `prompt()` answer. */
export const STDIN_BUFFER_BYTES = 4 << 20;

/** What the main thread hands the worker at start-up. */
export interface TransportOptions {
  connection: ConnectionInfo;
  /** This kernel's session id (header.session of everything it sends). */
  session: string;
  /** The content of kernel_info_reply (the banner may change later). */
  kernelInfo: Record<string, unknown>;
  shared: SharedArrayBuffer;
  stdinBuffer: SharedArrayBuffer;
  /** Print protocol traffic to stderr. */
  debug: boolean;
}

/** Messages from the main thread to the worker. */
export type ToTransport =
  | { kind: "send"; channel: Channel; identities: Uint8Array[]; msg: Message }
  | { kind: "done" }
  | { kind: "banner"; banner: string }
  | { kind: "stdin_request"; identities: Uint8Array[]; msg: Message; sync: boolean }
  | { kind: "sync"; token: number }
  | { kind: "exit" };

/** Messages from the worker to the main thread. */
export type FromTransport =
  | { kind: "ready" }
  | { kind: "fatal"; error: string }
  | { kind: "request"; channel: "shell" | "control"; identities: Uint8Array[]; msg: Message }
  | { kind: "interrupt"; seq: number }
  | { kind: "shutdown"; restart: boolean }
  | { kind: "stdin_reply"; value: string }
  | { kind: "stdin_interrupted" }
  | { kind: "sync"; token: number }
  | { kind: "closed" };

/** The ZMQ channels. */
export type Channel = "shell" | "control" | "stdin" | "iopub";

/** Writes a line to the real stderr (the Jupyter server's log), never to the notebook. */
export function log(text: string): void {
  try {
    writeSync(2, `[llmlab] ${text}\n`);
  } catch {
    // stderr closed: nothing sensible left to do.
  }
}

/** How long an interrupt waits for cell code to see the flag before falling back to SIGINT. */
const SIGINT_DELAY_MS = 100;

/** Replayed signatures are remembered this long (in count of messages). */
const SIGNATURE_MEMORY = 1 << 16;

/** Requests the worker answers itself, whatever the main thread is doing. */
const CONTROL_TYPES = new Set(["interrupt_request", "shutdown_request"]);

/** Request types the main thread knows; others get an error reply from the worker. */
const MAIN_TYPES = new Set([
  "execute_request",
  "complete_request",
  "inspect_request",
  "is_complete_request",
  "history_request",
  "comm_info_request",
  "comm_open",
  "comm_msg",
  "comm_close",
  "kernel_info_request",
  "connect_request",
]);

/** Serialises sends on one socket (zeromq 6 allows one pending send per socket). */
class SendQueue {
  private queue: Uint8Array[][] = [];
  private pumping = false;
  constructor(private readonly socket: { send(frames: Uint8Array[]): Promise<void> }, private readonly name: string) {}

  push(frames: Uint8Array[]): void {
    this.queue.push(frames);
    if (!this.pumping) void this.pump();
  }

  get idle(): boolean {
    return !this.pumping && this.queue.length === 0;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    while (this.queue.length > 0) {
      const frames = this.queue.shift()!;
      try {
        await this.socket.send(frames);
      } catch (e) {
        log(`send on ${this.name} failed: ${(e as Error).message}`);
      }
    }
    this.pumping = false;
  }
}

async function runTransport(options: TransportOptions): Promise<void> {
  const port = parentPort!;
  const zmq = await import("zeromq");
  const { connection, session, debug } = options;
  const kernelInfo = { ...options.kernelInfo };
  const signer = new Signer(connection.key, connection.signature_scheme);
  const shared = new Int32Array(options.shared);
  const stdinBytes = new Uint8Array(options.stdinBuffer);

  const socketOptions = { linger: 0, maxMessageSize: 1 << 30 };
  const shell = new zmq.Router(socketOptions);
  const control = new zmq.Router(socketOptions);
  const stdin = new zmq.Router(socketOptions);
  const iopub = new zmq.Publisher({ linger: 0 });
  const heartbeat = new zmq.Reply({ linger: 0 });
  const sockets = [shell, control, stdin, iopub, heartbeat];
  try {
    await Promise.all([
      shell.bind(endpoint(connection, connection.shell_port)),
      control.bind(endpoint(connection, connection.control_port)),
      stdin.bind(endpoint(connection, connection.stdin_port)),
      iopub.bind(endpoint(connection, connection.iopub_port)),
      heartbeat.bind(endpoint(connection, connection.hb_port)),
    ]);
  } catch (e) {
    for (const s of sockets) s.close();
    port.postMessage({ kind: "fatal", error: `cannot bind the kernel's sockets: ${(e as Error).message}` } satisfies FromTransport);
    return;
  }

  const queues: Record<Channel, SendQueue> = {
    shell: new SendQueue(shell, "shell"),
    control: new SendQueue(control, "control"),
    stdin: new SendQueue(stdin, "stdin"),
    iopub: new SendQueue(iopub, "iopub"),
  };

  function send(channel: Channel, identities: Uint8Array[], msg: Message): void {
    if (debug) log(`→ ${channel} ${msg.header.msg_type}`);
    const ids = channel === "iopub" ? [Buffer.from(`kernel.${session}.${msg.header.msg_type}`)] : identities;
    queues[channel].push(encode(ids, msg, signer));
  }

  function publishStatus(state: "busy" | "idle" | "starting", parent: Message["header"] | {}): void {
    send("iopub", [], makeMessage("status", { execution_state: state }, parent as any, session));
  }

  /** Shell/control requests handed to the main thread and not finished yet. */
  let outstanding = 0;
  let closing = false;

  const seenSignatures = new Set<string>();
  function isReplay(frames: Uint8Array[]): boolean {
    if (!signer.enabled) return false;
    const d = frames.findIndex((f) => f.length === 9 && Buffer.from(f).toString("latin1") === "<IDS|MSG>");
    const sig = d >= 0 && frames[d + 1] ? Buffer.from(frames[d + 1]).toString("latin1") : "";
    if (sig === "") return false;
    if (seenSignatures.has(sig)) return true;
    seenSignatures.add(sig);
    if (seenSignatures.size > SIGNATURE_MEMORY) {
      seenSignatures.delete(seenSignatures.values().next().value as string);
    }
    return false;
  }

  /** Decodes frames, or logs why not (and answers with an error reply when it can). */
  function accept(channel: Channel, frames: Uint8Array[]): Incoming | undefined {
    let incoming: Incoming;
    try {
      incoming = decode(frames, signer);
    } catch (e) {
      const err = e as WireError;
      log(`dropped a message on ${channel}: ${err.message}`);
      if (err.replyable && channel !== "stdin") {
        const { identities, msg } = err.replyable;
        send(channel, identities, errorReply(msg, "BadMessage", err.message));
      }
      return undefined;
    }
    // Only a correctly signed message reaches here, so remembering its signature is safe.
    if (isReplay(frames)) {
      log(`dropped a replayed message on ${channel} (${incoming.msg.header.msg_type})`);
      return undefined;
    }
    if (debug) log(`← ${channel} ${incoming.msg.header.msg_type}`);
    return incoming;
  }

  function errorReply(request: Message, ename: string, evalue: string): Message {
    return makeMessage(
      replyType(request.header.msg_type),
      { status: "error", ename, evalue, traceback: [`${ename}: ${evalue}`] },
      request.header,
      session,
    );
  }

  function kernelInfoReply(identities: Uint8Array[], request: Message, channel: Channel): void {
    publishStatus("busy", request.header);
    send(channel, identities, makeMessage("kernel_info_reply", kernelInfo, request.header, session));
    publishStatus("idle", request.header);
  }

  // ---- interrupt and shutdown -------------------------------------------------------
  let pendingStdin: { sync: boolean } | undefined;

  function interrupt(): void {
    const seq = Atomics.add(shared, SHARED.INTERRUPT_SEQ, 1) + 1;
    Atomics.store(shared, SHARED.INTERRUPT, 1);
    if (pendingStdin?.sync) {
      pendingStdin = undefined;
      Atomics.store(shared, SHARED.STDIN_STATE, STDIN.INTERRUPTED);
      Atomics.notify(shared, SHARED.STDIN_STATE);
    }
    port.postMessage({ kind: "interrupt", seq } satisfies FromTransport);
    // Cell code sees the flag at its next loop iteration. Code without checks
    // (a library function) running in the synchronous part of a cell is broken
    // by SIGINT (vm breakOnSigint) instead, but only if the flag is still
    // unseen a moment later: right as a script starts or ends, Node briefly
    // leaves SIGINT at its default action, which would kill the kernel.
    if (Atomics.load(shared, SHARED.IN_SCRIPT) === 1) {
      const script = Atomics.load(shared, SHARED.SCRIPT_ID);
      setTimeout(() => {
        const stillStuck =
          Atomics.load(shared, SHARED.INTERRUPT) === 1 &&
          Atomics.load(shared, SHARED.IN_SCRIPT) === 1 &&
          Atomics.load(shared, SHARED.SCRIPT_ID) === script;
        if (!stillStuck) return;
        // Counted, so the main thread can tell it from a user's own Ctrl-C.
        Atomics.add(shared, SHARED.PENDING_SIGINTS, 1);
        try {
          process.kill(process.pid, "SIGINT");
        } catch (e) {
          Atomics.sub(shared, SHARED.PENDING_SIGINTS, 1);
          log(`cannot signal the kernel process: ${(e as Error).message}`);
        }
      }, SIGINT_DELAY_MS);
    }
  }

  let exitTimer: NodeJS.Timeout | undefined;
  function shutdown(identities: Uint8Array[], request: Message, channel: Channel): void {
    const restart = request.content.restart === true;
    publishStatus("busy", request.header);
    const reply = makeMessage("shutdown_reply", { status: "ok", restart }, request.header, session);
    send(channel, identities, reply);
    send("iopub", [], makeMessage("shutdown_reply", { status: "ok", restart }, request.header, session));
    publishStatus("idle", request.header);
    if (exitTimer) return;
    // Stop whatever runs, then ask the main thread to exit cleanly.
    Atomics.store(shared, SHARED.INTERRUPT, 1);
    port.postMessage({ kind: "shutdown", restart } satisfies FromTransport);
    // A main thread stuck in native code cannot exit by itself.
    exitTimer = setTimeout(() => {
      log("main thread did not exit after shutdown_request; killing the process");
      void closeAll().then(() => process.kill(process.pid, "SIGKILL"));
    }, 3000);
  }

  async function closeAll(): Promise<void> {
    if (closing) return;
    closing = true;
    // Give queued replies a moment to leave.
    for (let i = 0; i < 50 && !Object.values(queues).every((q) => q.idle); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const s of sockets) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }

  // ---- receive loops -----------------------------------------------------------------
  async function serveRouter(channel: "shell" | "control", socket: InstanceType<typeof zmq.Router>): Promise<void> {
    for await (const frames of socket) {
      const incoming = accept(channel, frames);
      if (!incoming) continue;
      const { identities, msg } = incoming;
      const type = msg.header.msg_type;
      try {
        if (type === "interrupt_request") {
          publishStatus("busy", msg.header);
          interrupt();
          send(channel, identities, makeMessage("interrupt_reply", { status: "ok" }, msg.header, session));
          publishStatus("idle", msg.header);
        } else if (type === "shutdown_request") {
          shutdown(identities, msg, channel);
        } else if (type === "kernel_info_request" && (channel === "control" || outstanding === 0)) {
          // Answered here so that clients connect while the main thread is still
          // loading the compiler; when requests are queued, it waits its turn.
          kernelInfoReply(identities, msg, channel);
        } else if (MAIN_TYPES.has(type)) {
          outstanding++;
          port.postMessage({ kind: "request", channel, identities, msg } satisfies FromTransport);
        } else if (type.endsWith("_request")) {
          publishStatus("busy", msg.header);
          send(channel, identities, errorReply(msg, "UnknownMessageType", `this kernel does not handle ${type}`));
          publishStatus("idle", msg.header);
        } else {
          log(`ignored a ${type} message on ${channel}`);
        }
      } catch (e) {
        log(`error handling ${type} on ${channel}: ${(e as Error).stack}`);
      }
    }
  }

  async function serveStdin(): Promise<void> {
    for await (const frames of stdin) {
      const incoming = accept("stdin", frames);
      if (!incoming) continue;
      const { msg } = incoming;
      if (msg.header.msg_type !== "input_reply") {
        log(`ignored ${msg.header.msg_type} on stdin`);
        continue;
      }
      const pending = pendingStdin;
      if (!pending) {
        log("ignored an input_reply nobody asked for");
        continue;
      }
      pendingStdin = undefined;
      const value = typeof msg.content.value === "string" ? msg.content.value : String(msg.content.value ?? "");
      if (pending.sync) {
        const bytes = Buffer.from(value, "utf8");
        if (bytes.length > stdinBytes.length) {
          Atomics.store(shared, SHARED.STDIN_STATE, STDIN.TOO_LONG);
        } else {
          stdinBytes.set(bytes);
          Atomics.store(shared, SHARED.STDIN_LENGTH, bytes.length);
          Atomics.store(shared, SHARED.STDIN_STATE, STDIN.READY);
        }
        Atomics.notify(shared, SHARED.STDIN_STATE);
      } else {
        port.postMessage({ kind: "stdin_reply", value } satisfies FromTransport);
      }
    }
  }

  async function serveHeartbeat(): Promise<void> {
    for await (const frames of heartbeat) {
      await heartbeat.send(frames);
    }
  }

  function guard(name: string, loop: Promise<void>): void {
    loop.catch((e) => {
      if (!closing) log(`${name} loop stopped: ${(e as Error).message}`);
    });
  }

  // ---- messages from the main thread -------------------------------------------------
  port.on("message", (m: ToTransport) => {
    switch (m.kind) {
      case "send":
        if (!closing) send(m.channel, m.identities, m.msg);
        break;
      case "done":
        outstanding = Math.max(0, outstanding - 1);
        break;
      case "banner":
        kernelInfo.banner = m.banner;
        break;
      case "stdin_request":
        pendingStdin = { sync: m.sync };
        send("stdin", m.identities, m.msg);
        break;
      case "sync":
        port.postMessage({ kind: "sync", token: m.token } satisfies FromTransport);
        break;
      case "exit":
        if (exitTimer) clearTimeout(exitTimer);
        void closeAll().then(() => port.postMessage({ kind: "closed" } satisfies FromTransport));
        break;
    }
  });

  guard("shell", serveRouter("shell", shell));
  guard("control", serveRouter("control", control));
  guard("stdin", serveStdin());
  guard("heartbeat", serveHeartbeat());
  publishStatus("starting", {});
  port.postMessage({ kind: "ready" } satisfies FromTransport);

  // Exit with the Jupyter process that started us (it sets JPY_PARENT_PID),
  // like ipykernel's parent poller, so a crashed server leaves no orphan kernels.
  const parentPid = Number(process.env.JPY_PARENT_PID);
  if (Number.isInteger(parentPid) && parentPid > 1 && process.platform !== "win32") {
    setInterval(() => {
      if (exitTimer) return;
      try {
        process.kill(parentPid, 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ESRCH") return;
        log(`parent process ${parentPid} is gone; shutting down`);
        shutdown([], makeMessage("shutdown_request", { restart: false }, {}, session), "control");
      }
    }, 2000).unref();
  }
}

if (!isMainThread && workerData?.llmlabTransport) {
  runTransport(workerData.llmlabTransport as TransportOptions).catch((e) => {
    log(`transport failed: ${(e as Error).stack}`);
    parentPort!.postMessage({ kind: "fatal", error: String((e as Error).message) } satisfies FromTransport);
  });
}
