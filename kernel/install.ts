/**
 * `llmlab install`: writes a Jupyter kernelspec (kernel.json with absolute
 * paths, interrupt_mode "message", logos) the way `python -m ipykernel install`
 * does.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { projectRoot } from "./compiler";

/** Default kernelspec name. */
export const DEFAULT_NAME = "llmlab";
/** Default display name in the notebook's kernel menu. */
export const DEFAULT_DISPLAY_NAME = "LLM Lab (TypeScript)";

/** Where and how to install. */
export interface InstallOptions {
  /** "user" (default), "sys-prefix", or a prefix folder. */
  location: { kind: "user" } | { kind: "sys-prefix" } | { kind: "prefix"; dir: string };
  name?: string;
  displayName?: string;
  /** A prelude file written into argv (--prelude), or null to disable the prelude. */
  prelude?: string | null;
  /** Extra environment variables for the kernel. */
  env?: Record<string, string>;
}

/** Jupyter's per-user data folder, as jupyter_core computes it. */
export function userDataDir(): string {
  if (process.env.JUPYTER_DATA_DIR) return path.resolve(process.env.JUPYTER_DATA_DIR);
  const home = os.homedir();
  if (process.platform === "darwin") return path.join(home, "Library", "Jupyter");
  if (process.platform === "win32") return path.join(process.env.APPDATA ?? path.join(home, "AppData", "Roaming"), "jupyter");
  return path.join(process.env.XDG_DATA_HOME || path.join(home, ".local", "share"), "jupyter");
}

/** sys.prefix of the Python that runs `jupyter`. */
function jupyterSysPrefix(): string {
  const jupyter = process.env.LLMLAB_JUPYTER ?? "jupyter";
  const script = execFileSync("sh", ["-c", `command -v ${JSON.stringify(jupyter)}`], { encoding: "utf8" }).trim();
  if (!script) throw new Error(`cannot find ${jupyter} on PATH; use --prefix DIR instead of --sys-prefix`);
  const shebang = fs.readFileSync(script, "utf8").split("\n")[0];
  const python = /^#!\s*(\S+)/.exec(shebang)?.[1];
  if (!python) throw new Error(`${script} is not a Python script; use --prefix DIR instead of --sys-prefix`);
  return execFileSync(python, ["-c", "import sys; print(sys.prefix)"], { encoding: "utf8" }).trim();
}

/** The kernels folder for a location. */
export function kernelsDir(location: InstallOptions["location"]): string {
  switch (location.kind) {
    case "user":
      return path.join(userDataDir(), "kernels");
    case "prefix":
      return path.join(path.resolve(location.dir), "share", "jupyter", "kernels");
    case "sys-prefix":
      return path.join(jupyterSysPrefix(), "share", "jupyter", "kernels");
  }
}

/** The kernel.json contents. */
export function kernelSpec(options: Pick<InstallOptions, "displayName" | "prelude" | "env">): Record<string, unknown> {
  const argv = [process.execPath, path.join(projectRoot(), "bin", "llmlab.js"), "kernel", "--connection-file", "{connection_file}"];
  if (options.prelude === null) argv.push("--no-prelude");
  else if (typeof options.prelude === "string") argv.push("--prelude", path.resolve(options.prelude));
  const spec: Record<string, unknown> = {
    argv,
    display_name: options.displayName ?? DEFAULT_DISPLAY_NAME,
    language: "typescript",
    interrupt_mode: "message",
    metadata: { debugger: false },
  };
  if (options.env && Object.keys(options.env).length > 0) spec.env = options.env;
  return spec;
}

/** Writes the kernelspec and returns its folder. */
export function install(options: InstallOptions): string {
  const name = options.name ?? DEFAULT_NAME;
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) {
    throw new Error(`kernel name ${JSON.stringify(name)} may only contain letters, digits, ".", "_" and "-"`);
  }
  const dir = path.join(kernelsDir(options.location), name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "kernel.json"), JSON.stringify(kernelSpec(options), null, 2) + "\n");
  const logos = path.join(projectRoot(), "kernel");
  for (const file of ["logo-32x32.png", "logo-64x64.png", "logo-svg.svg"]) {
    const src = path.join(logos, file);
    if (fs.existsSync(src)) fs.copyFileSync(src, path.join(dir, file));
  }
  return dir;
}

/** True when a kernelspec `name` for the user exists and runs this checkout. */
export function userSpecIsCurrent(name = DEFAULT_NAME): boolean {
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(userDataDir(), "kernels", name, "kernel.json"), "utf8"));
    return Array.isArray(spec.argv) && spec.argv[1] === path.join(projectRoot(), "bin", "llmlab.js") && fs.existsSync(spec.argv[0]);
  } catch {
    return false;
  }
}
