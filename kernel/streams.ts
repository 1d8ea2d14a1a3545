/**
 * Captures process.stdout / process.stderr (and so console.*) into Jupyter
 * stream messages. Writes are batched, but flushed at once when the batch is
 * big or old, so a synchronous loop that prints streams its output instead of
 * buffering it until it ends.
 */

/** Sends one stream message. */
export type PublishStream = (name: "stdout" | "stderr", text: string) => void;

/** Flush when this many characters wait... */
const MAX_PENDING = 64 * 1024;
/** ...or when the oldest waiting write is this old (ms). */
const MAX_DELAY_MS = 50;

/** Batches writes to stdout/stderr into stream messages. */
export class StreamCapture {
  private pending: { name: "stdout" | "stderr"; parts: string[]; size: number; since: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly originals: { stdout: typeof process.stdout.write; stderr: typeof process.stderr.write };

  constructor(private readonly publish: PublishStream) {
    this.originals = { stdout: process.stdout.write, stderr: process.stderr.write };
  }

  /** Routes process.stdout and process.stderr here. */
  install(): void {
    process.stdout.write = this.writer("stdout") as typeof process.stdout.write;
    process.stderr.write = this.writer("stderr") as typeof process.stderr.write;
  }

  /** Restores the real streams. */
  uninstall(): void {
    this.flush();
    process.stdout.write = this.originals.stdout;
    process.stderr.write = this.originals.stderr;
  }

  private writer(name: "stdout" | "stderr") {
    return (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
      const cb = typeof encoding === "function" ? encoding : callback;
      let text: string;
      if (typeof chunk === "string") text = chunk;
      else if (chunk instanceof Uint8Array) text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString(typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
      else text = String(chunk);
      this.write(name, text);
      if (typeof cb === "function") process.nextTick(cb as () => void);
      return true;
    };
  }

  /** Adds text to the stream `name`. */
  write(name: "stdout" | "stderr", text: string): void {
    if (text === "") return;
    if (this.pending && this.pending.name !== name) this.flush();
    if (!this.pending) this.pending = { name, parts: [], size: 0, since: Date.now() };
    this.pending.parts.push(text);
    this.pending.size += text.length;
    if (this.pending.size >= MAX_PENDING || Date.now() - this.pending.since >= MAX_DELAY_MS) {
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), 5);
    }
  }

  /** Sends everything waiting. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const p = this.pending;
    this.pending = undefined;
    if (p && p.size > 0) this.publish(p.name, p.parts.join(""));
  }
}
