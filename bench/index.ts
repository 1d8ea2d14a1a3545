/**
 * `npm run bench`: the library's benchmarks, on every backend present.
 *
 *   node dist/bench/index.js [--json] [--case NAME[,NAME]] [--backends wasm,cpu]
 *                            [--steps N] [--warmup N] [--budget SECONDS] [--no-torch] [--no-stock]
 *
 * Text mode prints one readable line per measurement and the comparisons;
 * `--json` prints one JSON object per measurement on stdout (e.g. `{"case":
 * "gpt-ref", "backend", "threads", "ms_per_step", "tokens_per_s"}`) and the
 * comparisons on stderr. A benchmark measures and prints; it never fails on speed.
 *
 * Adding a case: write a module under bench/ exporting a {@link BenchCase} and
 * add it to CASES below (one line).
 */
import { availableBackends, BackendKind } from "../lib/backend";
import { gptRef } from "./gpt";
import { matmulBench } from "./matmul";
import { generateBench } from "./generate";

/** What a case gets to run with. */
export interface BenchContext {
  /** Backends to measure, in preference order. */
  backends: BackendKind[];
  /** Timed steps / repetitions. */
  steps: number;
  /** Untimed warmup steps. */
  warmup: number;
  /** Soft time budget per backend, in seconds. */
  budgetSeconds: number;
  /** Whether to run the PyTorch reference when available. */
  torch: boolean;
  /** Whether to also time stock tfjs kernels (gpt-ref-stock; slow). */
  stock: boolean;
  /** Emit a measurement: a JSON line with --json, else the text. */
  report(row: object, text: string): void;
  /** Emit a comment or comparison (stdout in text mode, stderr with --json). */
  note(text: string): void;
}

/** A benchmark case. */
export interface BenchCase {
  /** The `case` field of its rows, and its --case name. */
  name: string;
  /** One line shown in text mode. */
  describe: string;
  run(ctx: BenchContext): Promise<void>;
}

/** Every case, in the order they run. Add new cases here. */
export const CASES: BenchCase[] = [
  gptRef,
  matmulBench,
  generateBench,
];

function option(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined) throw new Error(`${flag} needs a value`);
  return v;
}

function positive(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!(v > 0)) throw new Error(`${flag} must be a positive number, got '${text}'`);
  return v;
}

const USAGE = `usage: npm run bench -- [options]

  --json               one JSON object per measurement on stdout (comparisons on stderr)
  --case NAME[,NAME]   only these cases (${CASES.map((c) => c.name).join(", ")})
  --backends B[,B]     only these backends (default: every backend present)
  --steps N            timed steps per measurement (default 10)
  --warmup N           untimed warm-up steps (default 3)
  --budget SECONDS     soft time budget per backend (default 60)
  --no-torch           skip the PyTorch reference
  --no-stock           skip the stock tfjs wasm kernels (gpt-ref-stock, slow)
  --help               print this help`;

const FLAGS_WITH_VALUE = ["--case", "--backends", "--steps", "--warmup", "--budget"];
const SWITCHES = ["--json", "--no-torch", "--no-stock", "--help", "-h"];

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  for (let i = 0; i < argv.length; i++) {
    if (FLAGS_WITH_VALUE.includes(argv[i])) i++;
    else if (!SWITCHES.includes(argv[i])) throw new Error(`unknown option '${argv[i]}'\n${USAGE}`);
  }
  const json = argv.includes("--json");
  const present = await availableBackends();
  const wanted = option(argv, "--backends")?.split(",").map((s) => s.trim()) as BackendKind[] | undefined;
  for (const b of wanted ?? []) if (!present.includes(b)) throw new Error(`backend '${b}' is not present here (present: ${present.join(", ")})`);
  const caseNames = option(argv, "--case")?.split(",");
  for (const n of caseNames ?? []) if (!CASES.some((c) => c.name === n)) throw new Error(`unknown case '${n}' (known: ${CASES.map((c) => c.name).join(", ")})`);
  const ctx: BenchContext = {
    backends: wanted ?? present,
    steps: Math.round(positive("--steps", option(argv, "--steps"), 10)),
    warmup: Math.round(positive("--warmup", option(argv, "--warmup"), 3)),
    budgetSeconds: positive("--budget", option(argv, "--budget"), 60),
    torch: !argv.includes("--no-torch"),
    stock: !argv.includes("--no-stock"),
    report: (row, text) => process.stdout.write((json ? JSON.stringify(row) : text) + "\n"),
    note: (text) => (json ? process.stderr : process.stdout).write(text + "\n"),
  };
  if (!json) console.log(`llmlab bench — backends present: ${present.join(", ")}; Node ${process.version}`);
  for (const c of CASES) {
    if (caseNames && !caseNames.includes(c.name)) continue;
    if (!json) console.log(`\n[${c.name}] ${c.describe}`);
    await c.run(ctx);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`bench: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
