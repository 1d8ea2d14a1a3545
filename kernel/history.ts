/**
 * Input history, persisted per user across kernel restarts in a JSON-lines
 * file (no native database needed). Answers history_request: tail, range and
 * glob search, like IPython's history manager.
 *
 * Each kernel start claims a new session number by appending a marker to a
 * small sessions file next to it; entries are `[session, line, input]` with
 * line = execution count. The history itself is only read when asked for.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { log } from "./transport";

/** One history entry: session, line (execution count), input and the text of its result. */
export interface HistoryEntry {
  session: number;
  line: number;
  input: string;
  output?: string;
}

/** An entry as history_reply sends it. */
export type HistoryTuple = [number, number, string] | [number, number, [string, string | null]];

/** Where the history lives: $LLMLAB_HISTORY, else $XDG_DATA_HOME/llmlab/history.jsonl. */
export function defaultHistoryFile(): string {
  if (process.env.LLMLAB_HISTORY) return process.env.LLMLAB_HISTORY;
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
  return path.join(data, "llmlab", "history.jsonl");
}

/** Converts a glob (`*`, `?`, `[abc]`, `[!abc]`) to an anchored regular expression, like SQLite's GLOB. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) {
        re += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      re += `[${negate ? "^" : ""}${body.replace(/[\\\]]/g, "\\$&")}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** The persistent history of this user. */
export class History {
  private entries: HistoryEntry[] | undefined;
  private sessionNumber: number | undefined;
  private writable = true;
  /** Session markers live in a small file of their own, so starting a session never reads the whole history. */
  private readonly sessionsFile: string;

  constructor(private readonly file: string = defaultHistoryFile()) {
    this.sessionsFile = file + ".sessions";
  }

  /** This kernel's session number (claimed on first use). */
  get session(): number {
    this.claimSession();
    return this.sessionNumber!;
  }

  private readLines(file: string): Array<Record<string, any>> {
    let text = "";
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") log(`cannot read ${file}: ${(e as Error).message}`);
    }
    const records: Array<Record<string, any>> = [];
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const rec = JSON.parse(line);
        if (rec !== null && typeof rec === "object" && typeof rec.s === "number") records.push(rec);
      } catch {
        // A torn line (crash mid-write) is skipped, not fatal.
      }
    }
    return records;
  }

  private append(file: string, record: Record<string, unknown>): void {
    if (!this.writable) return;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.appendFileSync(file, JSON.stringify(record) + "\n");
    } catch (e) {
      this.writable = false;
      log(`history will not be saved (${file}): ${(e as Error).message}`);
    }
  }

  /** Claims a session number no other kernel holds: one past the highest, first marker wins. */
  private claimSession(): void {
    if (this.sessionNumber !== undefined) return;
    const nonce = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    for (let attempt = 0; attempt < 5 && this.sessionNumber === undefined; attempt++) {
      let highest = 0;
      for (const m of this.readLines(this.sessionsFile)) highest = Math.max(highest, m.s);
      const session = highest + 1;
      this.append(this.sessionsFile, { s: session, start: new Date().toISOString(), pid: process.pid, nonce });
      if (!this.writable) {
        this.sessionNumber = session;
        break;
      }
      // Two kernels that started together may pick the same number: the first marker wins.
      const first = this.readLines(this.sessionsFile).find((m) => m.s === session);
      if (!first || first.nonce === nonce) this.sessionNumber = session;
    }
    this.sessionNumber ??= Date.now();
  }

  /** All entries, read from the file on first use. */
  private all(): HistoryEntry[] {
    this.claimSession();
    if (!this.entries) {
      this.entries = this.readLines(this.file)
        .filter((r) => typeof r.l === "number" && typeof r.i === "string")
        .map((r) => ({ session: r.s, line: r.l, input: r.i, output: typeof r.o === "string" ? r.o : undefined }));
    }
    return this.entries;
  }

  /** Records an executed cell. */
  store(line: number, input: string, output?: string): void {
    this.claimSession();
    const entry: HistoryEntry = { session: this.sessionNumber!, line, input, output };
    this.entries?.push(entry);
    this.append(this.file, { s: entry.session, l: line, i: input, ...(output !== undefined ? { o: output } : {}) });
  }

  private tuples(entries: HistoryEntry[], output: boolean): HistoryTuple[] {
    return entries.map((e) => (output ? [e.session, e.line, [e.input, e.output ?? null]] : [e.session, e.line, e.input]));
  }

  /** The last `n` entries, oldest first. */
  tail(n: number, output = false): HistoryTuple[] {
    const count = Math.max(0, Math.floor(n));
    return this.tuples(count === 0 ? [] : this.all().slice(-count), output);
  }

  /**
   * Entries of one session with start ≤ line < stop.
   * @param session 0 = this session, negative = that many sessions back, positive = that session.
   */
  range(session: number, start: number, stop: number | undefined, output = false): HistoryTuple[] {
    const entries = this.all();
    const s = session > 0 ? session : this.sessionNumber! + session;
    const picked = entries.filter((e) => e.session === s && e.line >= start && (stop === undefined || stop === null || e.line < stop));
    return this.tuples(picked, output);
  }

  /** Entries whose input matches a glob; `n` keeps the last n; `unique` drops repeated inputs. */
  search(pattern: string, n: number | undefined, unique: boolean, output = false): HistoryTuple[] {
    const re = globToRegExp(pattern || "*");
    let picked = this.all().filter((e) => re.test(e.input));
    if (unique) {
      const lastIndex = new Map<string, number>();
      picked.forEach((e, i) => lastIndex.set(e.input, i));
      picked = picked.filter((e, i) => lastIndex.get(e.input) === i);
    }
    if (n !== undefined && n !== null && n > 0) picked = picked.slice(-Math.floor(n));
    return this.tuples(picked, output);
  }
}
