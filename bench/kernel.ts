/**
 * `npm run bench:kernel`: start-up and round-trip latency of the llmlab kernel,
 * side by side with ipykernel when it is installed.
 *
 *   node dist/bench/kernel.js [--launches N] [--executes N] [--no-ipykernel]
 *
 * Measures, per kernel:
 * - start-up: process launch → kernel_info_reply (median of N launches);
 * - first execute: launch → reply to the first trivial cell (llmlab loads its
 *   TypeScript compiler in the background after answering kernel_info);
 * - round trip: execute_request → execute_reply, median over N cells, for the
 *   same cell re-run (`1 + 1`), for a different cell each time (`i + 1`), and
 *   for a different cell that declares a variable (`const v_i = i`, which the
 *   following cells are type-checked against).
 *
 * A tiny ZMQ client of its own (kernel/wire.ts does the signing). A benchmark
 * measures and prints; it never fails on speed.
 */
import { spawn, ChildProcess, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Dealer } from "zeromq";
import { ConnectionInfo, Message, Signer, decode, encode, makeMessage } from "../kernel/wire";

const ROOT = path.resolve(__dirname, "..", "..");
const IPYTHON = "/usr/bin/python3";

interface KernelCommand {
  name: string;
  argv: (connectionFile: string) => string[];
  env?: Record<string, string>;
  /** A trivial cell that declares a variable, in the kernel's language. */
  declare: (i: number) => string;
}

const KERNELS: KernelCommand[] = [
  {
    name: "llmlab",
    argv: (f) => [process.execPath, path.join(ROOT, "bin", "llmlab.js"), "kernel", "--connection-file", f],
    declare: (i) => `const v_${i} = ${i}`,
  },
  {
    name: "ipykernel",
    argv: (f) => [IPYTHON, "-m", "ipykernel_launcher", "-f", f],
    declare: (i) => `v_${i} = ${i}`,
  },
];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A connected client: shell and control DEALERs speaking the wire protocol. */
class Client {
  private readonly signer: Signer;
  readonly shell = new Dealer({ linger: 0 });
  readonly control = new Dealer({ linger: 0 });
  private readonly session = randomBytes(8).toString("hex");

  constructor(private readonly info: ConnectionInfo) {
    this.signer = new Signer(info.key, info.signature_scheme);
    this.shell.connect(`tcp://${info.ip}:${info.shell_port}`);
    this.control.connect(`tcp://${info.ip}:${info.control_port}`);
  }

  async request(socket: Dealer, type: string, content: Record<string, unknown>): Promise<Message> {
    const msg = makeMessage(type, content, undefined, this.session);
    await socket.send(encode([], msg, this.signer));
    for (;;) {
      const frames = await socket.receive();
      const reply = decode(frames, this.signer).msg;
      if (reply.parent_header.msg_id === msg.header.msg_id) return reply;
    }
  }

  execute(code: string): Promise<Message> {
    return this.request(this.shell, "execute_request", {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: false,
    });
  }

  close(): void {
    this.shell.close();
    this.control.close();
  }
}

interface Launched {
  child: ChildProcess;
  client: Client;
  dir: string;
  t0: number;
}

async function launch(kernel: KernelCommand): Promise<Launched> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-bench-"));
  const info: ConnectionInfo = {
    transport: "tcp",
    ip: "127.0.0.1",
    key: randomBytes(16).toString("hex"),
    signature_scheme: "hmac-sha256",
    shell_port: await freePort(),
    iopub_port: await freePort(),
    stdin_port: await freePort(),
    control_port: await freePort(),
    hb_port: await freePort(),
  };
  const file = path.join(dir, "kernel.json");
  fs.writeFileSync(file, JSON.stringify(info));
  const [cmd, ...args] = kernel.argv(file);
  const client = new Client(info);
  const t0 = performance.now();
  const child = spawn(cmd, args, {
    cwd: dir,
    stdio: ["ignore", "ignore", "ignore"],
    env: { ...process.env, XDG_DATA_HOME: dir, IPYTHONDIR: path.join(dir, "ipython"), ...kernel.env },
  });
  return { child, client, dir, t0 };
}

async function stop(k: Launched): Promise<void> {
  const exited = new Promise<void>((resolve) => k.child.once("exit", () => resolve()));
  try {
    await Promise.race([
      k.client.request(k.client.control, "shutdown_request", { restart: false }),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ]);
  } catch {
    // A kernel that does not answer is killed below.
  }
  const timer = setTimeout(() => k.child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
  k.client.close();
  fs.rmSync(k.dir, { recursive: true, force: true });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface Result {
  startup: number[];
  firstExecute: number;
  sameCell: number[];
  newCell: number[];
  declaringCell: number[];
}

async function measure(kernel: KernelCommand, launches: number, executes: number): Promise<Result> {
  const startup: number[] = [];
  for (let i = 0; i < launches; i++) {
    const k = await launch(kernel);
    await k.client.request(k.client.shell, "kernel_info_request", {});
    startup.push(performance.now() - k.t0);
    await stop(k);
  }
  const k = await launch(kernel);
  try {
    await k.client.request(k.client.shell, "kernel_info_request", {});
    const first = await k.client.execute("1 + 1");
    const firstExecute = performance.now() - k.t0;
    if (first.content.status !== "ok") throw new Error(`${kernel.name}: first execute failed: ${JSON.stringify(first.content)}`);
    const time = async (code: string) => {
      const t = performance.now();
      const reply = await k.client.execute(code);
      if (reply.content.status !== "ok") throw new Error(`${kernel.name}: ${code} failed: ${JSON.stringify(reply.content)}`);
      return performance.now() - t;
    };
    for (let i = 0; i < 5; i++) await time("1 + 1");
    const sameCell: number[] = [];
    for (let i = 0; i < executes; i++) sameCell.push(await time("1 + 1"));
    const newCell: number[] = [];
    for (let i = 0; i < executes; i++) newCell.push(await time(`${i} + 1`));
    const declaringCell: number[] = [];
    for (let i = 0; i < executes; i++) declaringCell.push(await time(kernel.declare(i)));
    return { startup, firstExecute, sameCell, newCell, declaringCell };
  } finally {
    await stop(k);
  }
}

function hasIpykernel(): boolean {
  try {
    execFileSync(IPYTHON, ["-c", "import ipykernel"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function parseArgs(argv: string[]): { launches: number; executes: number; ipykernel: boolean } {
  const out = { launches: 5, executes: 40, ipykernel: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--launches") out.launches = Math.max(1, Number(argv[++i]));
    else if (a === "--executes") out.executes = Math.max(1, Number(argv[++i]));
    else if (a === "--no-ipykernel") out.ipykernel = false;
    else if (a === "--help" || a === "-h") {
      console.log("usage: npm run bench:kernel -- [--launches N (default 5)] [--executes N (default 40)] [--no-ipykernel]");
      process.exit(0);
    } else throw new Error(`unknown option ${a} (use --launches N, --executes N, --no-ipykernel)`);
    if (Number.isNaN(out.launches) || Number.isNaN(out.executes)) throw new Error(`${a} needs a number`);
  }
  return out;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const kernels = KERNELS.filter((k) => k.name !== "ipykernel" || (opts.ipykernel && hasIpykernel()));
  console.log(`kernel start-up and round trip (${opts.launches} launches, ${opts.executes} executes; ${os.cpus().length} CPUs, Node ${process.version})`);
  const rows: Array<[string, Result]> = [];
  for (const kernel of kernels) {
    rows.push([kernel.name, await measure(kernel, opts.launches, opts.executes)]);
  }
  const header = [
    "kernel",
    "start-up (launch→kernel_info_reply)",
    "first execute (launch→reply)",
    "round trip, same cell",
    "round trip, new cell",
    "new cell declaring a variable",
  ];
  const lines = rows.map(([name, r]) => [
    name,
    `${(median(r.startup) / 1000).toFixed(2)} s`,
    `${(r.firstExecute / 1000).toFixed(2)} s`,
    `${median(r.sameCell).toFixed(1)} ms`,
    `${median(r.newCell).toFixed(1)} ms`,
    `${median(r.declaringCell).toFixed(1)} ms`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(fmt(header));
  for (const l of lines) console.log(fmt(l));
  const ours = rows.find(([n]) => n === "llmlab")?.[1];
  const theirs = rows.find(([n]) => n === "ipykernel")?.[1];
  if (ours && theirs) {
    console.log(
      `llmlab / ipykernel: start-up ×${(median(ours.startup) / median(theirs.startup)).toFixed(2)}, ` +
        `round trip ×${(median(ours.sameCell) / median(theirs.sameCell)).toFixed(2)} (same cell), ` +
        `×${(median(ours.newCell) / median(theirs.newCell)).toFixed(2)} (new cell), ` +
        `×${(median(ours.declaringCell) / median(theirs.declaringCell)).toFixed(2)} (declaring cell)`,
    );
  } else if (!theirs) {
    console.log("ipykernel not measured (not installed for /usr/bin/python3, or --no-ipykernel)");
  }
}

main().catch((e) => {
  console.error(`bench:kernel failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
