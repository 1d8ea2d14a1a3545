/**
 * `llmlab tokenize`: encode text from stdin and print the token ids.
 *
 * ```
 * echo -n "Hello world" | llmlab tokenize --encoding cl100k_base          # 9906 1917
 * echo -n "Hello world" | llmlab tokenize --encoding gpt2 --json          # {"ids":[15496,995]}
 * llmlab tokenize --encoding model/tokenizer.json < input.txt
 * ```
 * The whole of stdin is encoded, including a final newline if there is one.
 */
import * as fs from "node:fs";
import { DisallowedSpecialTokenError, encodingFor, ENCODING_NAMES, loadTokenizer, type Tokenizer } from "../../lib/tokenizer";

const USAGE = `usage: llmlab tokenize --encoding NAME [--json] [--special error|allow|ordinary]

Reads text on stdin and prints its token ids (space-separated).

  --encoding NAME, -e NAME  ${ENCODING_NAMES.join(" | ")}, a model name (gpt-4, gpt-4o),
                            or the path of a saved tokenizer (tokenizer.json, or a model folder)
  --json                    print {"ids": [...]} instead
  --special MODE            special token strings such as <|endoftext|> in the text:
                            error (default, like tiktoken), allow (encode them as special
                            tokens) or ordinary (encode them as plain text)
  --help, -h                show this help`;

class UsageError extends Error {}

interface Args {
  encoding: string;
  json: boolean;
  special: "error" | "allow" | "ordinary";
  help: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Partial<Args> = { json: false, special: "error", help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--encoding":
      case "-e":
        args.encoding = value();
        break;
      case "--json":
        args.json = true;
        break;
      case "--special": {
        const v = value();
        if (v !== "error" && v !== "allow" && v !== "ordinary") {
          throw new UsageError(`--special must be error, allow or ordinary, got '${v}'`);
        }
        args.special = v;
        break;
      }
      case "--help":
      case "-h":
        args.help = true;
        break;
      default:
        throw new UsageError(`unknown argument '${arg}'`);
    }
  }
  if (!args.help && !args.encoding) throw new UsageError("--encoding NAME is required");
  return args as Args;
}

/** The tokenizer for NAME: a built-in encoding, or a saved tokenizer file/folder. */
function tokenizerFor(name: string): Tokenizer {
  try {
    return encodingFor(name);
  } catch (e) {
    if (!fs.existsSync(name)) {
      throw new Error(
        `unknown encoding '${name}': expected ${ENCODING_NAMES.join(", ")} or the path of a saved tokenizer ` +
        `(no such file)`,
      );
    }
  }
  return loadTokenizer(name);
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on("data", (c: Buffer) => chunks.push(c));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

/**
 * Entry point of `llmlab tokenize` (argv without the leading "tokenize",
 * though a leading "tokenize" is tolerated). Returns the exit code: 0 on
 * success, 2 on a usage error, 1 on any other error (unknown encoding,
 * unreadable tokenizer file, disallowed special token…).
 */
export async function main(argv: string[]): Promise<number> {
  const rest = argv[0] === "tokenize" ? argv.slice(1) : argv;
  let args: Args;
  try {
    args = parseArgs(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`llmlab tokenize: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    throw e;
  }
  if (args.help) {
    await write(USAGE + "\n");
    return 0;
  }
  try {
    const tokenizer = tokenizerFor(args.encoding);
    const text = await readStdin();
    const options =
      args.special === "allow" ? { allowedSpecial: "all" as const }
      : args.special === "ordinary" ? { disallowedSpecial: "none" as const }
      : {};
    const ids = tokenizer.encode(text, options);
    await write(args.json ? JSON.stringify({ ids }) + "\n" : ids.join(" ") + "\n");
    return 0;
  } catch (e) {
    if (e instanceof DisallowedSpecialTokenError) {
      process.stderr.write(
        `llmlab tokenize: the text contains the special token ${JSON.stringify(e.token)} (at character ${e.index}); ` +
        `pass --special allow to encode it as that special token, or --special ordinary to encode it as plain text\n`,
      );
    } else process.stderr.write(`llmlab tokenize: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
