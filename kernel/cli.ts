/**
 * The `llmlab` command line (bin/llmlab.js):
 *
 *   llmlab install [--user | --prefix DIR | --sys-prefix] [--name NAME] [--display-name TEXT] [--prelude FILE | --no-prelude]
 *   llmlab kernel --connection-file FILE [--prelude FILE | --no-prelude] [--debug]
 *   llmlab start [jupyter arguments...]
 *   llmlab generate ... | llmlab tokenize ...
 *   llmlab --version | --help
 *
 * Subcommands load their modules lazily so that `llmlab kernel` starts fast.
 */
import * as path from "node:path";
import * as fs from "node:fs";

const USAGE = `usage: llmlab <command> [options]

commands:
  install [--user | --prefix DIR | --sys-prefix] [--name NAME] [--display-name TEXT]
          [--prelude FILE | --no-prelude]
                       register the kernel with Jupyter (default: --user)
  kernel --connection-file FILE [--prelude FILE | --no-prelude] [--debug]
                       run the kernel (what kernel.json starts)
  start [ARGS...]      register the kernel if needed and open the notebooks in Jupyter
                       (jupyter notebook; LLMLAB_JUPYTER_APP=lab for JupyterLab)
  generate [ARGS...]   generate text with a model (see llmlab generate --help)
  tokenize [ARGS...]   tokenize text (see llmlab tokenize --help)
  --version            print the version
  --help               print this help`;

/** Parsed `--flag value` options; throws on an unknown flag or a missing value. */
function parseFlags(args: string[], spec: Record<string, "value" | "switch">): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const kind = spec[flag];
    if (!kind) throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    if (kind === "switch") {
      out[flag] = true;
    } else if (eq > 0 && arg.startsWith("--")) {
      out[flag] = arg.slice(eq + 1);
    } else {
      const value = args[++i];
      if (value === undefined) throw new UsageError(`${flag} needs a value`);
      out[flag] = value;
    }
  }
  return out;
}

class UsageError extends Error {}

function readVersion(): string {
  const pkg = path.resolve(__dirname, "..", "..", "package.json");
  return JSON.parse(fs.readFileSync(pkg, "utf8")).version;
}

async function installCommand(args: string[]): Promise<number> {
  const f = parseFlags(args, {
    "--user": "switch",
    "--sys-prefix": "switch",
    "--prefix": "value",
    "--name": "value",
    "--display-name": "value",
    "--prelude": "value",
    "--no-prelude": "switch",
  });
  const chosen = [f["--user"], f["--sys-prefix"], f["--prefix"]].filter((x) => x !== undefined).length;
  if (chosen > 1) throw new UsageError("choose one of --user, --prefix DIR, --sys-prefix");
  if (f["--prelude"] !== undefined && f["--no-prelude"]) throw new UsageError("choose --prelude FILE or --no-prelude, not both");
  const { install } = await import("./install");
  const location = f["--prefix"] !== undefined
    ? { kind: "prefix" as const, dir: String(f["--prefix"]) }
    : f["--sys-prefix"]
      ? { kind: "sys-prefix" as const }
      : { kind: "user" as const };
  const dir = install({
    location,
    name: f["--name"] as string | undefined,
    displayName: f["--display-name"] as string | undefined,
    prelude: f["--no-prelude"] ? null : (f["--prelude"] as string | undefined),
  });
  console.log(`Installed kernelspec ${path.basename(dir)} in ${dir}`);
  return 0;
}

async function kernelCommand(args: string[]): Promise<number | null> {
  const f = parseFlags(args, { "--connection-file": "value", "--prelude": "value", "--no-prelude": "switch", "--debug": "switch", "-f": "value" });
  const file = (f["--connection-file"] ?? f["-f"]) as string | undefined;
  if (!file) throw new UsageError("kernel needs --connection-file FILE");
  const { startKernel, resolvePrelude } = await import("./kernel");
  startKernel({
    connectionFile: file,
    prelude: f["--no-prelude"] ? null : resolvePrelude(f["--prelude"] as string | undefined),
    debug: f["--debug"] === true || process.env.LLMLAB_DEBUG === "1",
  });
  return null;
}

async function startCommand(args: string[]): Promise<number> {
  const { install, userSpecIsCurrent } = await import("./install");
  if (!userSpecIsCurrent()) {
    const dir = install({ location: { kind: "user" } });
    console.log(`Registered the llmlab kernel in ${dir}`);
  }
  const { spawn } = await import("node:child_process");
  const root = path.resolve(__dirname, "..", "..");
  const jupyter = process.env.LLMLAB_JUPYTER ?? "jupyter";
  // `notebook` (classic or Notebook 7) by default; LLMLAB_JUPYTER_APP=lab for JupyterLab.
  const app = process.env.LLMLAB_JUPYTER_APP ?? "notebook";
  const jupyterArgs = [app, `--notebook-dir=${path.join(root, "notebooks")}`, ...args];
  // Jupyter refuses to run as root without this flag (containers, CI machines).
  if (process.getuid?.() === 0 && !args.includes("--allow-root")) jupyterArgs.push("--allow-root");
  return new Promise<number>((resolve) => {
    const child = spawn(jupyter, jupyterArgs, { stdio: "inherit" });
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") {
        console.error(
          `llmlab: cannot find "${jupyter}". Install Jupyter first:\n` +
            "  sudo apt install jupyter-notebook      (Debian/Ubuntu)\n" +
            "  pip install jupyterlab                 (any system; then: LLMLAB_JUPYTER_APP=lab npm start)",
        );
      } else {
        console.error(`llmlab: cannot start ${jupyter}: ${e.message}`);
      }
      resolve(1);
    });
    // Ctrl-C goes to Jupyter (same process group); wait for it to finish.
    process.on("SIGINT", () => {});
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function delegate(name: "generate" | "tokenize", args: string[]): Promise<number> {
  const file = path.join(__dirname, "cli", `${name}.js`);
  if (!fs.existsSync(file)) {
    console.error(`llmlab ${name}: not available in this build (${file} is missing; run npm run build)`);
    return 1;
  }
  const mod = require(file);
  if (typeof mod.main !== "function") {
    console.error(`llmlab ${name}: ${file} does not export main(argv)`);
    return 1;
  }
  return (await mod.main(args)) ?? 0;
}

/**
 * Runs the command line. Resolves to the exit code, or null when the process
 * keeps running (the kernel).
 */
export async function main(argv: string[]): Promise<number | null> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case "install":
        return await installCommand(args);
      case "kernel":
        return await kernelCommand(args);
      case "start":
        return await startCommand(args);
      case "generate":
      case "tokenize":
        return await delegate(command, args);
      case "--version":
      case "-V":
      case "version":
        console.log(readVersion());
        return 0;
      case undefined:
      case "--help":
      case "-h":
      case "help":
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`llmlab: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`llmlab: ${(e as Error)?.message ?? e}`);
    return 1;
  }
}
