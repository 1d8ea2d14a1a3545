/**
 * The byte-pair merge engine behind every BPE tokenizer here: token bytes, the
 * table "which token do two adjacent tokens merge into", and the loop that
 * merges one chunk's bytes into token ids.
 *
 * One rule covers both kinds of vocabulary: repeatedly merge the adjacent pair
 * whose merged token has the lowest id (the leftmost one on a tie), until no
 * adjacent pair merges. A merged token's id is its rank:
 * - trained (minbpe) vocabularies: token 256+i is merge i, and only the pairs
 *   that were merged in training merge. Merging the leftmost lowest pair one at
 *   a time is the same as minbpe's "merge every occurrence of the lowest pair",
 *   because any pair that contains the new token was learned later.
 * - pretrained (tiktoken) vocabularies: two adjacent tokens merge if their
 *   concatenated bytes are a token, exactly tiktoken's rule; pair lookups are
 *   computed from the bytes on first use and then cached.
 */

import { utf8EncodeInto } from "./utf8";

/** Rank meaning "these two tokens do not merge". */
export const NO_MERGE = 0x7fffffff;

/** The largest vocabulary the engine supports (ids must fit in 21 bits). */
export const MAX_VOCAB = 1 << 20;

/**
 * An open-addressing hash table from a pair of token ids to a rank, on typed
 * arrays (much faster than a `Map` with composite keys).
 */
export class PairTable {
  private keys: Int32Array;
  private vals: Int32Array;
  private mask: number;
  /** Number of pairs stored. */
  size = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Int32Array(cap * 2).fill(-1);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private static slot(a: number, b: number, mask: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x632be5ab, 0x85ebca6b);
    h ^= h >>> 15;
    return h & mask;
  }

  /** The rank stored for (a, b), or -1 if the pair is not in the table. */
  get(a: number, b: number): number {
    const keys = this.keys;
    const mask = this.mask;
    let s = PairTable.slot(a, b, mask);
    for (;;) {
      const ka = keys[2 * s];
      if (ka === -1) return -1;
      if (ka === a && keys[2 * s + 1] === b) return this.vals[s];
      s = (s + 1) & mask;
    }
  }

  /** Stores `rank` for (a, b), replacing any previous value. */
  set(a: number, b: number, rank: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const keys = this.keys;
    const mask = this.mask;
    let s = PairTable.slot(a, b, mask);
    for (;;) {
      const ka = keys[2 * s];
      if (ka === -1) {
        keys[2 * s] = a;
        keys[2 * s + 1] = b;
        this.vals[s] = rank;
        this.size++;
        return;
      }
      if (ka === a && keys[2 * s + 1] === b) {
        this.vals[s] = rank;
        return;
      }
      s = (s + 1) & mask;
    }
  }

  /** Removes every pair. */
  clear(): void {
    this.keys.fill(-1);
    this.size = 0;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const cap = (this.mask + 1) * 2;
    this.keys = new Int32Array(cap * 2).fill(-1);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
    this.size = 0;
    for (let s = 0; s < oldVals.length; s++) {
      if (oldKeys[2 * s] !== -1) this.set(oldKeys[2 * s], oldKeys[2 * s + 1], oldVals[s]);
    }
  }
}

/**
 * Token text → id, for the fast path "this whole chunk is one token". Looked
 * up by a range of the input string, so no substring is built for chunks that
 * are found (most of them, for ordinary text).
 */
class TextTable {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly texts: string[] = [];

  constructor(entries: Array<[string, number]>) {
    let cap = 16;
    while (cap < entries.length * 2) cap *= 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    for (const [text, id] of entries) {
      this.texts[id] = text;
      let s = TextTable.hash(text, 0, text.length) & this.mask;
      while (this.slots[s] !== -1) s = (s + 1) & this.mask;
      this.slots[s] = id;
    }
  }

  private static hash(text: string, start: number, end: number): number {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** The id of the token whose text is `text[start..end)`, or -1. */
  get(text: string, start: number, end: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const n = end - start;
    let s = TextTable.hash(text, start, end) & mask;
    for (;;) {
      const id = slots[s];
      if (id === -1) return -1;
      const t = this.texts[id];
      if (t.length === n) {
        let i = 0;
        while (i < n && t.charCodeAt(i) === text.charCodeAt(start + i)) i++;
        if (i === n) return id;
      }
      s = (s + 1) & mask;
    }
  }
}

/** One learned merge: tokens `left` and `right` merge into token `id`. */
export interface Merge {
  readonly left: number;
  readonly right: number;
  readonly id: number;
}

/** Pieces longer than this (in bytes) are merged with a heap instead of rescans. */
const LONG_PIECE = 64;
/** A pretrained vocabulary's pair cache is reset when it grows past this. */
const PAIR_CACHE_LIMIT = 500_000;
/** A trained vocabulary's chunk cache is reset when it grows past this. */
const CHUNK_CACHE_LIMIT = 200_000;

/** Token tables and the merge loop; immutable once built, shared between tokenizer objects. */
export class BpeCore {
  /** Ordinary token ids are `0 .. size-1`. */
  readonly size: number;
  /** The token id of each single byte value. */
  readonly byteToId: Int32Array;
  /** All token bytes back to back; token `i` is `pool[offsets[i] .. offsets[i+1]]`. */
  readonly pool: Uint8Array;
  readonly offsets: Int32Array;
  /** True for tiktoken-style vocabularies (merge whenever the concatenation is a token). */
  readonly byBytes: boolean;

  private readonly pairs: PairTable;
  /** byBytes only: token bytes as binary strings, and the inverse map. */
  private readonly binary: string[] | null;
  private readonly binaryToId: Map<string, number> | null;
  /** byBytes only: whole-chunk fast path, text → id for tokens that are valid UTF-8. */
  private readonly textToId: TextTable | null;
  /** Trained only: merges in order. For byBytes they are recovered on first use. */
  private mergeList: Merge[] | null;
  /** Trained only: chunk text → ids. */
  private readonly chunkCache: Map<string, number[]> | null;

  private bytesBuf = new Uint8Array(256);
  private idsBuf = new Int32Array(256);
  private rankBuf = new Int32Array(256);

  private constructor(init: {
    size: number;
    byteToId: Int32Array;
    pool: Uint8Array;
    offsets: Int32Array;
    byBytes: boolean;
    pairs: PairTable;
    binary: string[] | null;
    binaryToId: Map<string, number> | null;
    textToId: TextTable | null;
    mergeList: Merge[] | null;
  }) {
    this.size = init.size;
    this.byteToId = init.byteToId;
    this.pool = init.pool;
    this.offsets = init.offsets;
    this.byBytes = init.byBytes;
    this.pairs = init.pairs;
    this.binary = init.binary;
    this.binaryToId = init.binaryToId;
    this.textToId = init.textToId;
    this.mergeList = init.mergeList;
    this.chunkCache = init.byBytes ? null : new Map();
  }

  /**
   * A minbpe-style vocabulary: ids 0..255 are the bytes, id 256+i is
   * `merges[i]` (both parts must be earlier tokens).
   */
  static fromMerges(merges: ReadonlyArray<readonly [number, number]>): BpeCore {
    const size = 256 + merges.length;
    if (size > MAX_VOCAB) throw new RangeError(`Vocabulary too large: ${size} tokens (max ${MAX_VOCAB})`);
    const lengths = new Int32Array(size);
    lengths.fill(1, 0, 256);
    const pairs = new PairTable(merges.length);
    const list: Merge[] = [];
    merges.forEach(([a, b], i) => {
      const id = 256 + i;
      for (const t of [a, b]) {
        if (!Number.isInteger(t) || t < 0 || t >= id) {
          throw new RangeError(`Merge ${i} ([${a}, ${b}]) refers to token ${t}, which does not exist before token ${id}`);
        }
      }
      if (pairs.get(a, b) !== -1) throw new RangeError(`Merge ${i} ([${a}, ${b}]) repeats an earlier merge`);
      pairs.set(a, b, id);
      lengths[id] = lengths[a] + lengths[b];
      list.push({ left: a, right: b, id });
    });
    const offsets = new Int32Array(size + 1);
    for (let i = 0; i < size; i++) offsets[i + 1] = offsets[i] + lengths[i];
    const pool = new Uint8Array(offsets[size]);
    for (let i = 0; i < 256; i++) pool[i] = i;
    for (const m of list) {
      pool.copyWithin(offsets[m.id], offsets[m.left], offsets[m.left + 1]);
      pool.copyWithin(offsets[m.id] + lengths[m.left], offsets[m.right], offsets[m.right + 1]);
    }
    const byteToId = new Int32Array(256);
    for (let i = 0; i < 256; i++) byteToId[i] = i;
    return new BpeCore({
      size, byteToId, pool, offsets, byBytes: false, pairs,
      binary: null, binaryToId: null, textToId: null, mergeList: list,
    });
  }

  /**
   * A tiktoken-style vocabulary: `tokens[id]` is the bytes of token `id` as a
   * binary string (one char per byte). All 256 single bytes must be tokens.
   */
  static fromRanks(tokens: string[]): BpeCore {
    const size = tokens.length;
    if (size > MAX_VOCAB) throw new RangeError(`Vocabulary too large: ${size} tokens (max ${MAX_VOCAB})`);
    const binaryToId = new Map<string, number>();
    const textToId: Array<[string, number]> = [];
    const byteToId = new Int32Array(256).fill(-1);
    const offsets = new Int32Array(size + 1);
    for (let id = 0; id < size; id++) offsets[id + 1] = offsets[id] + tokens[id].length;
    const pool = new Uint8Array(offsets[size]);
    for (let id = 0; id < size; id++) {
      const bin = tokens[id];
      if (bin.length === 0) throw new RangeError(`Token ${id} is empty`);
      if (binaryToId.has(bin)) throw new RangeError(`Tokens ${binaryToId.get(bin)} and ${id} have the same bytes`);
      binaryToId.set(bin, id);
      const at = offsets[id];
      let ascii = true;
      for (let k = 0; k < bin.length; k++) {
        const c = bin.charCodeAt(k);
        pool[at + k] = c;
        if (c >= 0x80) ascii = false;
      }
      if (bin.length === 1) byteToId[bin.charCodeAt(0)] = id;
      if (ascii) textToId.push([bin, id]);
      else {
        const bytes = pool.subarray(at, at + bin.length);
        const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
        if (Buffer.byteLength(text, "utf8") === bin.length && Buffer.from(text, "utf8").equals(bytes)) {
          textToId.push([text, id]);
        }
      }
    }
    const missing = byteToId.indexOf(-1);
    if (missing >= 0) throw new RangeError(`Byte 0x${missing.toString(16)} is not a token of this vocabulary`);
    return new BpeCore({
      size, byteToId, pool, offsets, byBytes: true, pairs: new PairTable(1 << 16),
      binary: tokens, binaryToId, textToId: new TextTable(textToId), mergeList: null,
    });
  }

  /** The bytes of ordinary token `id` (a view into the pool: do not modify). */
  bytesOf(id: number): Uint8Array {
    return this.pool.subarray(this.offsets[id], this.offsets[id + 1]);
  }

  /** Byte length of ordinary token `id`. */
  lengthOf(id: number): number {
    return this.offsets[id + 1] - this.offsets[id];
  }

  /** The merges in id order. For pretrained vocabularies they are recovered from the ranks (once). */
  merges(): readonly Merge[] {
    if (this.mergeList === null) this.mergeList = this.recoverMerges();
    return this.mergeList;
  }

  /**
   * Rank (= merged token id) of the adjacent pair (a, b), or {@link NO_MERGE}.
   * For byte-ranked vocabularies, computes and caches it on first use.
   */
  rank(a: number, b: number): number {
    const r = this.pairs.get(a, b);
    if (r !== -1) return r;
    if (!this.byBytes) return NO_MERGE;
    if (this.pairs.size > PAIR_CACHE_LIMIT) this.pairs.clear();
    const id = this.binaryToId!.get(this.binary![a] + this.binary![b]);
    const rank = id === undefined ? NO_MERGE : id;
    this.pairs.set(a, b, rank);
    return rank;
  }

  /** Appends the token ids of the chunk `text[start..end)` (already split by the pattern) to `out`. */
  encodeChunk(text: string, start: number, end: number, out: number[]): void {
    let chunk: string;
    if (this.textToId !== null) {
      const id = this.textToId.get(text, start, end);
      if (id !== -1) {
        out.push(id);
        return;
      }
      chunk = text.slice(start, end);
    } else {
      chunk = text.slice(start, end);
      const cached = this.chunkCache!.get(chunk);
      if (cached !== undefined) {
        for (let i = 0; i < cached.length; i++) out.push(cached[i]);
        return;
      }
    }
    if (this.bytesBuf.length < chunk.length * 3) this.growBuffers(chunk.length * 3);
    const n = utf8EncodeInto(chunk, this.bytesBuf);
    const ids = this.idsBuf;
    for (let i = 0; i < n; i++) ids[i] = this.byteToId[this.bytesBuf[i]];
    const m = this.mergeIds(ids, n);
    for (let i = 0; i < m; i++) out.push(ids[i]);
    if (this.chunkCache !== null) {
      if (this.chunkCache.size >= CHUNK_CACHE_LIMIT) this.chunkCache.clear();
      this.chunkCache.set(chunk, Array.from(ids.subarray(0, m)));
    }
  }

  /** Appends the ids of arbitrary bytes (no split) to `out`. */
  encodeBytes(bytes: Uint8Array, out: number[]): void {
    const ids = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) ids[i] = this.byteToId[bytes[i]];
    const m = this.mergeIds(ids, bytes.length);
    for (let i = 0; i < m; i++) out.push(ids[i]);
  }

  private growBuffers(n: number): void {
    let cap = this.bytesBuf.length;
    while (cap < n) cap *= 2;
    this.bytesBuf = new Uint8Array(cap);
    this.idsBuf = new Int32Array(cap);
    this.rankBuf = new Int32Array(cap);
  }

  /**
   * Merges `ids[0..n)` in place; returns the new length. Short pieces rescan
   * the pair ranks after each merge (cheap and cache-friendly); long ones use a
   * heap so that e.g. a 100 kB run of digits does not take quadratic time.
   */
  mergeIds(ids: Int32Array, n: number): number {
    if (n < 2) return n;
    if (n > LONG_PIECE) return this.mergeLong(ids, n);
    const ranks = n <= this.rankBuf.length ? this.rankBuf : new Int32Array(n);
    for (let i = 0; i < n - 1; i++) ranks[i] = this.rank(ids[i], ids[i + 1]);
    while (n > 1) {
      let best = NO_MERGE;
      let at = -1;
      for (let i = 0; i < n - 1; i++) {
        if (ranks[i] < best) {
          best = ranks[i];
          at = i;
        }
      }
      if (at < 0) break;
      ids[at] = best;
      for (let i = at + 1; i < n - 1; i++) ids[i] = ids[i + 1];
      for (let i = at + 1; i < n - 2; i++) ranks[i] = ranks[i + 1];
      n--;
      if (at > 0) ranks[at - 1] = this.rank(ids[at - 1], ids[at]);
      if (at < n - 1) ranks[at] = this.rank(ids[at], ids[at + 1]);
    }
    return n;
  }

  private mergeLong(ids: Int32Array, n: number): number {
    const SHIFT = 4294967296; // heap key = rank * 2^32 + position: lowest rank, then leftmost
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const rankAt = new Int32Array(n);
    let heap = new Float64Array(n);
    let size = 0;
    const push = (key: number) => {
      if (size === heap.length) {
        const bigger = new Float64Array(heap.length * 2);
        bigger.set(heap);
        heap = bigger;
      }
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p] <= key) break;
        heap[i] = heap[p];
        i = p;
      }
      heap[i] = key;
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap[--size];
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && heap[c + 1] < heap[c]) c++;
        if (heap[c] >= last) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = last;
      return top;
    };
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
      const r = i + 1 < n ? this.rank(ids[i], ids[i + 1]) : NO_MERGE;
      rankAt[i] = r;
      if (r !== NO_MERGE) push(r * SHIFT + i);
    }
    while (size > 0) {
      const key = pop();
      const r = Math.floor(key / SHIFT);
      const i = key - r * SHIFT;
      if (ids[i] < 0 || rankAt[i] !== r) continue; // stale entry
      const j = next[i];
      const k = next[j];
      ids[i] = r;
      ids[j] = -1;
      rankAt[j] = NO_MERGE;
      next[i] = k;
      if (k !== -1) {
        prev[k] = i;
        const rr = this.rank(r, ids[k]);
        rankAt[i] = rr;
        if (rr !== NO_MERGE) push(rr * SHIFT + i);
      } else rankAt[i] = NO_MERGE;
      const p = prev[i];
      if (p !== -1) {
        const rr = this.rank(ids[p], r);
        rankAt[p] = rr;
        if (rr !== NO_MERGE) push(rr * SHIFT + p);
      }
    }
    let m = 0;
    for (let i = 0; i !== -1; i = next[i]) ids[m++] = ids[i];
    return m;
  }

  /**
   * For a tiktoken vocabulary, the pair each token was merged from: BPE its
   * bytes using only lower-ranked tokens; the last two parts are the pair
   * (minbpe's `recover_merges`). Tokens that do not end as exactly two parts
   * (none in the OpenAI vocabularies) are left out.
   */
  private recoverMerges(): Merge[] {
    const out: Merge[] = [];
    const bin = this.binary!;
    const toId = this.binaryToId!;
    for (let id = 0; id < this.size; id++) {
      const token = bin[id];
      if (token.length < 2) continue;
      const parts = token.split("");
      while (parts.length > 2) {
        let best = id;
        let at = -1;
        for (let i = 0; i < parts.length - 1; i++) {
          const r = toId.get(parts[i] + parts[i + 1]);
          if (r !== undefined && r < best) {
            best = r;
            at = i;
          }
        }
        if (at < 0) break;
        parts.splice(at, 2, parts[at] + parts[at + 1]);
      }
      if (parts.length === 2) out.push({ left: toId.get(parts[0])!, right: toId.get(parts[1])!, id });
    }
    return out;
  }
}
