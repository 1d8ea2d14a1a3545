/**
 * Jupyter wire format (messaging protocol 5.3): splitting ZMQ frames into a
 * message, HMAC signing and verification, and building headers.
 *
 * Pure functions, no sockets: the transport worker uses them, and tests can
 * drive them directly.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { userInfo } from "node:os";

/** The protocol version this kernel speaks. */
export const PROTOCOL_VERSION = "5.3";

/** The frame that separates ZMQ routing identities from the message. */
export const DELIMITER = "<IDS|MSG>";

/** A message header, as the protocol defines it. */
export interface Header {
  msg_id: string;
  username: string;
  session: string;
  date: string;
  msg_type: string;
  version: string;
  [key: string]: unknown;
}

/** A decoded Jupyter message. */
export interface Message {
  header: Header;
  /** Empty object when the message has no parent. */
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: Record<string, any>;
  buffers: Uint8Array[];
}

/** A message received on a ROUTER socket, with the identities to reply to. */
export interface Incoming {
  identities: Uint8Array[];
  msg: Message;
}

/** Signs messages with the connection file's key and scheme. */
export class Signer {
  private readonly key: Buffer;
  private readonly algorithm: string;

  /**
   * @param key the `key` of the connection file; empty disables signing.
   * @param scheme the `signature_scheme`, e.g. `hmac-sha256`.
   */
  constructor(key: string, scheme = "hmac-sha256") {
    const match = /^hmac-(\w+)$/.exec(scheme);
    if (!match) throw new Error(`unsupported signature_scheme ${JSON.stringify(scheme)} (expected hmac-<algorithm>)`);
    this.algorithm = match[1];
    this.key = Buffer.from(key, "utf8");
    // Fails early on an algorithm Node does not know.
    if (this.key.length > 0) createHmac(this.algorithm, this.key);
  }

  /** True when messages are signed (the key is not empty). */
  get enabled(): boolean {
    return this.key.length > 0;
  }

  /** The hex HMAC of the four signed frames. */
  sign(frames: Uint8Array[]): string {
    if (!this.enabled) return "";
    const hmac = createHmac(this.algorithm, this.key);
    for (const f of frames) hmac.update(f);
    return hmac.digest("hex");
  }

  /** Constant-time check of a received signature. */
  verify(signature: string, frames: Uint8Array[]): boolean {
    if (!this.enabled) return true;
    const expected = Buffer.from(this.sign(frames), "utf8");
    const got = Buffer.from(signature, "utf8");
    return got.length === expected.length && timingSafeEqual(got, expected);
  }
}

/** Why a received multipart message was rejected. */
export class WireError extends Error {
  /** Set when enough of the message was readable to send an error reply. */
  readonly replyable?: Incoming;
  constructor(message: string, replyable?: Incoming) {
    super(message);
    this.name = "WireError";
    this.replyable = replyable;
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function parseJsonFrame(frame: Uint8Array, what: string): Record<string, any> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(frame));
  } catch (e) {
    throw new WireError(`${what} frame is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new WireError(`${what} frame is not a JSON object`);
  }
  return value as Record<string, any>;
}

/**
 * Decodes the frames of a message received on a ROUTER socket (or any socket
 * when `hasIdentities` is false). Verifies the signature before parsing JSON, so
 * a forged message is rejected without touching its content.
 * @throws WireError describing the problem; `replyable` is set when the header
 * was valid, so the caller can answer with an error reply.
 */
export function decode(frames: Uint8Array[], signer: Signer): Incoming {
  let delimiter = -1;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    if (f.length === DELIMITER.length && Buffer.from(f).toString("latin1") === DELIMITER) {
      delimiter = i;
      break;
    }
  }
  if (delimiter < 0) throw new WireError(`no ${DELIMITER} delimiter among ${frames.length} frames`);
  const identities = frames.slice(0, delimiter);
  const rest = frames.slice(delimiter + 1);
  if (rest.length < 5) throw new WireError(`truncated message: ${rest.length} frames after the delimiter, need at least 5`);
  const signature = Buffer.from(rest[0]).toString("latin1");
  const signed = rest.slice(1, 5);
  if (!signer.verify(signature, signed)) {
    throw new WireError(signature ? "invalid signature" : "missing signature");
  }
  const header = parseJsonFrame(signed[0], "header");
  if (typeof header.msg_type !== "string" || header.msg_type === "") {
    throw new WireError("header has no msg_type");
  }
  if (typeof header.msg_id !== "string") header.msg_id = String(header.msg_id ?? "");
  const partial: Incoming = {
    identities,
    msg: { header: header as Header, parent_header: {}, metadata: {}, content: {}, buffers: [] },
  };
  try {
    partial.msg.parent_header = parseJsonFrame(signed[1], "parent_header") as Partial<Header>;
    partial.msg.metadata = parseJsonFrame(signed[2], "metadata");
    partial.msg.content = parseJsonFrame(signed[3], "content");
  } catch (e) {
    throw new WireError((e as Error).message, partial);
  }
  partial.msg.buffers = rest.slice(5);
  return partial;
}

/** JSON.stringify that never throws: unserialisable values become strings. */
export function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v) => {
      if (typeof v === "bigint") return v.toString();
      if (typeof v === "number" && !Number.isFinite(v)) return String(v);
      return v;
    }) ?? "{}";
  } catch (e) {
    return JSON.stringify({ error: `unserialisable message content: ${(e as Error).message}` });
  }
}

/** Encodes a message into frames (identities, delimiter, signature, four JSON frames, buffers). */
export function encode(identities: Uint8Array[], msg: Message, signer: Signer): Uint8Array[] {
  const signed = [
    Buffer.from(safeJson(msg.header)),
    Buffer.from(safeJson(msg.parent_header ?? {})),
    Buffer.from(safeJson(msg.metadata ?? {})),
    Buffer.from(safeJson(msg.content ?? {})),
  ];
  return [...identities, Buffer.from(DELIMITER), Buffer.from(signer.sign(signed)), ...signed, ...(msg.buffers ?? [])];
}

let cachedUser: string | undefined;
function username(): string {
  if (cachedUser === undefined) {
    try {
      cachedUser = process.env.USER || userInfo().username || "llmlab";
    } catch {
      cachedUser = "llmlab";
    }
  }
  return cachedUser;
}

/** A new message of `msgType` answering (or caused by) `parent`. */
export function makeMessage(
  msgType: string,
  content: Record<string, unknown>,
  parent: Partial<Header> | undefined,
  session: string,
  metadata: Record<string, unknown> = {},
): Message {
  return {
    header: {
      msg_id: randomUUID(),
      username: username(),
      session,
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    },
    parent_header: parent ?? {},
    metadata,
    content,
    buffers: [],
  };
}

/** The reply type of a request type: `execute_request` → `execute_reply`. */
export function replyType(requestType: string): string {
  return requestType.endsWith("_request") ? requestType.slice(0, -"_request".length) + "_reply" : requestType + "_reply";
}

/** The connection file written by Jupyter for a kernel. */
export interface ConnectionInfo {
  transport: "tcp" | "ipc";
  ip: string;
  key: string;
  signature_scheme: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  kernel_name?: string;
}

/** Validates a parsed connection file, naming the field that is wrong. */
export function checkConnectionInfo(raw: unknown): ConnectionInfo {
  if (raw === null || typeof raw !== "object") throw new Error("connection file is not a JSON object");
  const info = raw as Record<string, unknown>;
  const transport = info.transport ?? "tcp";
  if (transport !== "tcp" && transport !== "ipc") throw new Error(`connection file: unknown transport ${JSON.stringify(transport)}`);
  if (typeof info.ip !== "string" || info.ip === "") throw new Error("connection file: missing ip");
  for (const p of ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"]) {
    const v = info[p];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 65535) {
      throw new Error(`connection file: ${p} must be a port number, got ${JSON.stringify(v)}`);
    }
  }
  return {
    ...(info as any),
    transport,
    key: typeof info.key === "string" ? info.key : "",
    signature_scheme: typeof info.signature_scheme === "string" ? info.signature_scheme : "hmac-sha256",
  };
}

/** The ZMQ endpoint of one channel. */
export function endpoint(info: ConnectionInfo, port: number): string {
  return info.transport === "ipc" ? `ipc://${info.ip}-${port}` : `tcp://${info.ip}:${port}`;
}
