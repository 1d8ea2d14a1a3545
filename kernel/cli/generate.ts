/**
 * `llmlab generate`: sample from a saved model in a terminal or a script.
 *
 * ```
 * llmlab generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--max-new-tokens N]
 *                 [--temperature T] [--top-k K] [--top-p P] [--seed S] [--stop-ids 0,5] [--json]
 * ```
 * Without `--json` the text (or the ids, for a model without a tokenizer) is
 * streamed to stdout. With `--json` one JSON object is printed:
 * `{"prompt_ids": [...], "ids": [generated ids], "logprobs": [...]}` where each
 * logprob is the log-softmax of the raw logits (temperature 1) at the chosen id.
 * `--temperature 0` is greedy decoding. Ctrl-C stops after the current token.
 */
import { initBackend } from "../../lib/backend";
import { loadCheckpoint } from "../../lib/io/checkpoint";
import { generate } from "../../lib/model/generate";

const USAGE = `usage: llmlab generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3)
                       [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P]
                       [--seed S] [--stop-ids 1,2] [--json]

  --model DIR         a model folder (config.json + model.safetensors [+ tokenizer.json])
  --prompt TEXT       prompt text (needs the model's tokenizer)
  --prompt-ids IDS    prompt token ids, comma-separated
  --max-new-tokens N  tokens to generate (default 100)
  --temperature T     sampling temperature (default 1; 0 = greedy)
  --top-k K           sample among the K most likely tokens
  --top-p P           sample among the most likely tokens with total probability P
  --seed S            sampler seed (default: random)
  --stop-ids IDS      stop after generating one of these ids
  --json              print {"prompt_ids", "ids", "logprobs"} as one JSON object
Environment: LLMLAB_BACKEND=tensorflow|webgpu|wasm|cpu forces a backend.`;

class UsageError extends Error {}

interface Args {
  model: string;
  prompt?: string;
  promptIds?: number[];
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stopIds: number[];
  json: boolean;
}

function parseIds(flag: string, text: string): number[] {
  const parts = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const ids = parts.map(Number);
  if (parts.length === 0 || ids.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new UsageError(`${flag} must be comma-separated non-negative integers, got '${text}'`);
  }
  return ids;
}

function parseNumber(flag: string, text: string, integer: boolean): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new UsageError(`${flag} must be ${integer ? "an integer" : "a number"}, got '${text}'`);
  }
  return v;
}

function parseArgs(argv: string[]): Args | "help" {
  const out: Partial<Args> = { maxNewTokens: 100, temperature: 1, stopIds: [], json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith("--") && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        return "help";
      case "--model":
        out.model = value();
        break;
      case "--prompt":
        out.prompt = value();
        break;
      case "--prompt-ids":
        out.promptIds = parseIds(flag, value());
        break;
      case "--max-new-tokens":
        out.maxNewTokens = parseNumber(flag, value(), true);
        if (out.maxNewTokens < 0) throw new UsageError("--max-new-tokens must be ≥ 0");
        break;
      case "--temperature":
        out.temperature = parseNumber(flag, value(), false);
        if (out.temperature < 0) throw new UsageError("--temperature must be ≥ 0");
        break;
      case "--top-k":
        out.topK = parseNumber(flag, value(), true);
        if (out.topK < 1) throw new UsageError("--top-k must be ≥ 1");
        break;
      case "--top-p":
        out.topP = parseNumber(flag, value(), false);
        if (!(out.topP > 0 && out.topP <= 1)) throw new UsageError("--top-p must be in (0, 1]");
        break;
      case "--seed":
        out.seed = parseNumber(flag, value(), true);
        break;
      case "--stop-ids":
        out.stopIds = parseIds(flag, value());
        break;
      case "--json":
        out.json = true;
        break;
      default:
        throw new UsageError(`unknown argument '${arg}'`);
    }
  }
  if (!out.model) throw new UsageError("--model DIR is required");
  if ((out.prompt === undefined) === (out.promptIds === undefined)) throw new UsageError("give exactly one of --prompt or --prompt-ids");
  return out as Args;
}

/** Text ↔ ids for a checkpoint: its tokenizer object, or its stored character vocabulary. */
interface TextCodec {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

function codecFor(tokenizer: unknown, chars: string[] | undefined): TextCodec | undefined {
  const t = tokenizer as any;
  if (t && typeof t.encode === "function" && typeof t.decode === "function") {
    return { encode: (s) => Array.from(t.encode(s) as ArrayLike<number>), decode: (ids) => String(t.decode(ids)) };
  }
  if (chars) {
    const index = new Map(chars.map((c, i) => [c, i]));
    return {
      encode: (s) =>
        Array.from(s).map((ch) => {
          const id = index.get(ch);
          if (id === undefined) throw new Error(`the model's vocabulary has no character ${JSON.stringify(ch)}`);
          return id;
        }),
      decode: (ids) => ids.map((id) => chars[id] ?? "").join(""),
    };
  }
  return undefined;
}

/**
 * Entry point of `llmlab generate` (argv without the leading "generate" —
 * though a leading "generate" is tolerated). Returns the exit code: 0 on
 * success, 2 on a usage error, 1 on any other error.
 */
export async function main(argv: string[]): Promise<number> {
  const rest = argv[0] === "generate" ? argv.slice(1) : argv;
  let args: Args;
  try {
    const parsed = parseArgs(rest);
    if (parsed === "help") {
      process.stdout.write(USAGE + "\n");
      return 0;
    }
    args = parsed;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`llmlab generate: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    throw e;
  }

  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  try {
    await initBackend();
    const ckpt = await loadCheckpoint(args.model);
    const codec = codecFor(ckpt.tokenizer, ckpt.chars);
    let promptIds: number[];
    if (args.promptIds) {
      promptIds = args.promptIds;
    } else {
      if (!codec) throw new Error(`${args.model} has no tokenizer (tokenizer.json) or character vocabulary; use --prompt-ids`);
      promptIds = codec.encode(args.prompt!);
      if (promptIds.length === 0) throw new Error("the prompt encodes to no tokens");
    }
    const stream = !args.json;
    if (stream) process.stdout.write(codec ? codec.decode(promptIds) : promptIds.join(" "));
    // Decode the whole continuation each time and print what is new, so multi-byte
    // characters split across tokens come out whole.
    let printed = "";
    const generated: number[] = [];
    const result = await generate(ckpt.model, promptIds, {
      maxNewTokens: args.maxNewTokens,
      temperature: args.temperature,
      topK: args.topK,
      topP: args.topP,
      seed: args.seed,
      stopTokens: args.stopIds,
      signal: controller.signal,
      onToken: stream
        ? (id) => {
            generated.push(id);
            if (codec) {
              const text = codec.decode(generated);
              const safe = text.endsWith("\uFFFD") ? text.slice(0, -1) : text;
              if (safe.length > printed.length && safe.startsWith(printed)) {
                process.stdout.write(safe.slice(printed.length));
                printed = safe;
              }
            } else {
              process.stdout.write(` ${id}`);
            }
          }
        : undefined,
    });
    if (args.json) {
      process.stdout.write(JSON.stringify({ prompt_ids: promptIds, ids: result.ids, logprobs: result.logprobs }) + "\n");
    } else {
      if (codec) {
        const text = codec.decode(result.ids);
        if (text.length > printed.length && text.startsWith(printed)) process.stdout.write(text.slice(printed.length));
      }
      process.stdout.write("\n");
    }
    ckpt.model.dispose();
    return 0;
  } catch (e) {
    process.stderr.write(`llmlab generate: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`llmlab generate: ${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
