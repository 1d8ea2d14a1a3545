/**
 * A small comm registry (Jupyter comms: message channels between kernel and
 * front end, used by widgets). The library registers targets through the
 * `kernel.comms` global; the kernel routes comm_open / comm_msg / comm_close
 * to them and answers comm_info_request.
 */
import { randomUUID } from "node:crypto";

/** Sends a comm message on iopub. */
export type PublishComm = (
  msgType: "comm_open" | "comm_msg" | "comm_close",
  content: Record<string, unknown>,
  options?: { metadata?: Record<string, unknown>; buffers?: Uint8Array[] },
) => void;

/** Called when the front end opens a comm with a registered target. */
export type CommTarget = (comm: Comm, data: any, buffers: Uint8Array[]) => void;

/** One open comm. */
export class Comm {
  private isClosed = false;
  /** Called for each comm_msg from the front end. */
  onMessage?: (data: any, buffers: Uint8Array[]) => void;
  /** Called when the front end closes the comm. */
  onClose?: (data: any) => void;

  constructor(
    readonly id: string,
    readonly targetName: string,
    private readonly registry: CommRegistry,
  ) {}

  /** True once either side closed it. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Sends data to the front end. */
  send(data: unknown = {}, options?: { metadata?: Record<string, unknown>; buffers?: Uint8Array[] }): void {
    if (this.isClosed) throw new Error(`comm ${this.id} (${this.targetName}) is closed`);
    this.registry.publish("comm_msg", { comm_id: this.id, data }, options);
  }

  /** Closes the comm from the kernel side. */
  close(data: unknown = {}): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.registry.forget(this.id);
    this.registry.publish("comm_close", { comm_id: this.id, data });
  }

  /** @internal The front end closed it. */
  closedByPeer(data: unknown): void {
    this.isClosed = true;
    this.onClose?.(data);
  }
}

/** Targets and open comms. */
export class CommRegistry {
  private readonly targets = new Map<string, CommTarget>();
  private readonly comms = new Map<string, Comm>();

  /**
   * @param publish sends comm messages on iopub.
   * @param reportError shows an error raised by a comm handler (they run outside any cell).
   */
  constructor(
    readonly publish: PublishComm,
    private readonly reportError: (e: unknown) => void,
  ) {}

  /** Lets the front end open comms with this target name. */
  registerTarget(targetName: string, onOpen: CommTarget): void {
    if (typeof targetName !== "string" || targetName === "") throw new TypeError("registerTarget needs a non-empty target name");
    if (typeof onOpen !== "function") throw new TypeError("registerTarget needs a function called for each new comm");
    this.targets.set(targetName, onOpen);
  }

  /** Removes a target. */
  unregisterTarget(targetName: string): void {
    this.targets.delete(targetName);
  }

  /** Opens a comm from the kernel side. */
  open(targetName: string, data: unknown = {}, options?: { metadata?: Record<string, unknown>; buffers?: Uint8Array[] }): Comm {
    if (typeof targetName !== "string" || targetName === "") throw new TypeError("open needs a non-empty target name");
    const comm = new Comm(randomUUID(), targetName, this);
    this.comms.set(comm.id, comm);
    this.publish("comm_open", { comm_id: comm.id, target_name: targetName, data }, options);
    return comm;
  }

  /** The open comms, optionally only those of one target. */
  list(targetName?: string): Comm[] {
    return [...this.comms.values()].filter((c) => targetName === undefined || c.targetName === targetName);
  }

  /** @internal */
  forget(id: string): void {
    this.comms.delete(id);
  }

  /** Content of comm_info_reply. */
  info(targetName?: string): Record<string, { target_name: string }> {
    const out: Record<string, { target_name: string }> = {};
    for (const c of this.list(typeof targetName === "string" && targetName !== "" ? targetName : undefined)) {
      out[c.id] = { target_name: c.targetName };
    }
    return out;
  }

  /** A comm_open from the front end. Unknown targets are closed at once, as ipykernel does. */
  handleOpen(content: Record<string, any>, buffers: Uint8Array[]): void {
    const id = content.comm_id;
    const targetName = content.target_name;
    if (typeof id !== "string" || typeof targetName !== "string") throw new Error("comm_open needs comm_id and target_name strings");
    const target = this.targets.get(targetName);
    if (!target) {
      this.publish("comm_close", { comm_id: id, data: {} });
      throw new Error(`no comm target named ${JSON.stringify(targetName)}`);
    }
    const comm = new Comm(id, targetName, this);
    this.comms.set(id, comm);
    try {
      target(comm, content.data ?? {}, buffers);
    } catch (e) {
      comm.close();
      this.reportError(e);
    }
  }

  /** A comm_msg from the front end. */
  handleMessage(content: Record<string, any>, buffers: Uint8Array[]): void {
    const comm = this.comms.get(content.comm_id);
    if (!comm) throw new Error(`comm_msg for unknown comm ${JSON.stringify(content.comm_id)}`);
    try {
      comm.onMessage?.(content.data ?? {}, buffers);
    } catch (e) {
      this.reportError(e);
    }
  }

  /** A comm_close from the front end. */
  handleClose(content: Record<string, any>): void {
    const comm = this.comms.get(content.comm_id);
    if (!comm) return;
    this.comms.delete(comm.id);
    try {
      comm.closedByPeer(content.data ?? {});
    } catch (e) {
      this.reportError(e);
    }
  }
}
