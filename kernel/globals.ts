/**
 * Type declarations of the globals the kernel gives every notebook
 * (`display`, `clearOutput`, `input`, `prompt`, `kernel`). Cells are
 * type-checked against them; their documentation is what hover and
 * `shift+tab` show. The runtime side lives in display.ts, stdin.ts and
 * kernel.ts.
 */
export const GLOBALS_SOURCE = String.raw`
declare global {
  namespace Jupyter {
    /** A Jupyter MIME bundle: MIME type → data (a string, or JSON for "application/json" and "+json" types). */
    type MimeBundle = Record<string, unknown>;

    /** Options of {@link display}. */
    interface DisplayOptions {
      /** true: return a handle whose update() redraws this output in place; a string: reuse that display id. */
      id?: boolean | string;
      /** Metadata per MIME type, e.g. { "image/png": { width: 200 } }. */
      metadata?: Record<string, unknown>;
    }

    /** A live output: update() replaces it in place (Jupyter update_display_data). */
    interface DisplayHandle {
      /** The display id. */
      readonly id: string;
      /** Replaces the output with another value (same rules as display()). */
      update(obj: unknown, options?: { metadata?: Record<string, unknown> }): void;
    }

    /** Options of the image helpers. */
    interface ImageOptions extends DisplayOptions {
      /** Display width in CSS pixels. */
      width?: number;
      /** Display height in CSS pixels. */
      height?: number;
    }

    /** One end of a Jupyter comm (a message channel between kernel and front end). */
    interface Comm {
      /** The comm id. */
      readonly id: string;
      /** The target this comm was opened for. */
      readonly targetName: string;
      /** True once either side closed it. */
      readonly closed: boolean;
      /** Sends a comm_msg to the front end. */
      send(data?: unknown, options?: { metadata?: Record<string, unknown>; buffers?: Uint8Array[] }): void;
      /** Closes the comm (sends comm_close). */
      close(data?: unknown): void;
      /** Called for each comm_msg from the front end. */
      onMessage?: (data: any, buffers: Uint8Array[]) => void;
      /** Called when the front end closes the comm. */
      onClose?: (data: any) => void;
    }

    /** The comm registry: targets the front end can open, and comms the kernel opens. */
    interface CommManager {
      /** Lets the front end open comms with this target name; onOpen receives each new comm. */
      registerTarget(targetName: string, onOpen: (comm: Comm, data: any, buffers: Uint8Array[]) => void): void;
      /** Removes a target. */
      unregisterTarget(targetName: string): void;
      /** Opens a comm from the kernel side (sends comm_open). */
      open(targetName: string, data?: unknown, options?: { metadata?: Record<string, unknown>; buffers?: Uint8Array[] }): Comm;
      /** The open comms, optionally only those of one target. */
      list(targetName?: string): Comm[];
    }

    /** The running kernel. */
    interface Kernel {
      /** The llmlab version. */
      readonly version: string;
      /** The execution count of the cell that runs now. */
      readonly executionCount: number;
      /** Abort signal of the running cell; it fires when the user interrupts. Long loops should check it. */
      readonly signal: AbortSignal | undefined;
      /** The comm registry. */
      readonly comms: CommManager;
      /** Sets the banner front ends show (e.g. which compute backend the prelude loaded). */
      setBanner(banner: string): void;
    }
  }

  /**
   * Shows a value in the notebook and returns a handle to update it in place.
   * Accepts a MIME bundle ({ "text/html": ..., "text/plain": ... }), an object
   * with a [Symbol.for("Jupyter.display")]() method, or any value (shown like
   * the Node REPL shows it).
   * @example const h = display("step 1", { id: true }); h.update("step 2");
   */
  function display(obj: unknown, options?: Jupyter.DisplayOptions): Jupyter.DisplayHandle;
  namespace display {
    /** Shows HTML. */
    function html(html: string, options?: Jupyter.DisplayOptions): Jupyter.DisplayHandle;
    /** Shows Markdown. */
    function markdown(markdown: string, options?: Jupyter.DisplayOptions): Jupyter.DisplayHandle;
    /** Shows plain text as is (no quotes). */
    function text(text: string, options?: Jupyter.DisplayOptions): Jupyter.DisplayHandle;
    /** Shows an SVG image given as markup. */
    function svg(svg: string, options?: Jupyter.DisplayOptions): Jupyter.DisplayHandle;
    /** Shows a PNG image: raw bytes, or base64 text. */
    function png(data: Uint8Array | ArrayBuffer | string, options?: Jupyter.ImageOptions): Jupyter.DisplayHandle;
    /** Shows a JPEG image: raw bytes, or base64 text. */
    function jpeg(data: Uint8Array | ArrayBuffer | string, options?: Jupyter.ImageOptions): Jupyter.DisplayHandle;
    /** Shows JSON as an interactive tree (where the front end supports it). */
    function json(value: unknown, options?: Jupyter.DisplayOptions): Jupyter.DisplayHandle;
    /** Shows LaTeX math, e.g. display.latex("$e^{i\\pi} + 1 = 0$"). */
    function latex(latex: string, options?: Jupyter.DisplayOptions): Jupyter.DisplayHandle;
  }

  /** Clears the cell's output; with { wait: true } only when the next output arrives (no flicker). */
  function clearOutput(options?: { wait?: boolean }): void;

  /**
   * Asks the user for a line of text (needs a front end that allows stdin).
   * @param prompt text shown before the input box.
   * @param options password: hide what is typed.
   */
  function input(prompt?: string, options?: { password?: boolean }): Promise<string>;

  /**
   * Asks the user for a line of text and waits for it synchronously (the cell
   * blocks until the answer arrives). Returns defaultValue for an empty answer.
   */
  function prompt(message?: string, defaultValue?: string): string;

  /** The running kernel: banner, comms, the abort signal of the running cell. */
  const kernel: Jupyter.Kernel;
}
export {};
`;
