/**
 * Byte-level BPE training with incremental pair counts.
 *
 * It learns the same merges as minbpe (Karpathy's reference): text is split
 * into chunks by the pattern, each chunk starts as its UTF-8 bytes, and each
 * step merges the most frequent adjacent pair everywhere (left to right, no
 * overlaps), ties going to the pair that occurs first in the text. minbpe
 * recounts every pair after every merge; here:
 * - identical chunks are stored once with their frequency (a corpus has far
 *   fewer distinct words than words);
 * - every pair remembers where it occurs, so a merge only visits those places
 *   and adjusts the counts of the neighbouring pairs it destroys and creates;
 * - the most frequent pair comes from a max-heap whose stale entries are
 *   re-queued lazily when popped.
 * The cost of a merge is proportional to how often its pair occurs, not to the
 * size of the text.
 */

import { utf8Encode } from "./utf8";
import { MAX_VOCAB } from "./core";
import type { SplitPattern } from "./patterns";

/** One merge learned during training. */
export interface MergeInfo {
  /** 0-based number of this merge (the new token's id is `256 + index`). */
  readonly index: number;
  /** Id of the new token. */
  readonly id: number;
  /** The two tokens merged, left then right. */
  readonly left: number;
  readonly right: number;
  /** Bytes of the new token (the left token's bytes, then the right's). */
  readonly bytes: Uint8Array;
  /** How many times the pair occurred in the training text when it was merged. */
  readonly count: number;
}

/** Statistics of one adjacent pair of tokens. */
interface PairStat {
  readonly left: number;
  readonly right: number;
  /** Occurrences in the text (each chunk occurrence weighted by its frequency). */
  count: number;
  /** Node indices where the pair was created; some may be stale since. */
  positions: number[];
}

const KEY_BASE = 2 ** 21;
const pairKey = (a: number, b: number) => a * KEY_BASE + b;

/** A max-heap of (count, pair key), with lazy deletion done by the caller. */
class CountHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  topCount(): number {
    return this.counts[0];
  }

  push(count: number, key: number): void {
    const counts = this.counts;
    const keys = this.keys;
    let i = counts.length;
    counts.push(count);
    keys.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (counts[p] >= count) break;
      counts[i] = counts[p];
      keys[i] = keys[p];
      i = p;
    }
    counts[i] = count;
    keys[i] = key;
  }

  /** Removes the top entry and returns its key (its count was `topCount()`). */
  pop(): number {
    const counts = this.counts;
    const keys = this.keys;
    const topKey = keys[0];
    const lastCount = counts.pop()!;
    const lastKey = keys.pop()!;
    const n = counts.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && counts[c + 1] > counts[c]) c++;
        if (counts[c] <= lastCount) break;
        counts[i] = counts[c];
        keys[i] = keys[c];
        i = c;
      }
      counts[i] = lastCount;
      keys[i] = lastKey;
    }
    return topKey;
  }
}

/**
 * The state of one training run. Create it with the text, then call
 * {@link BpeTrainer.step} once per merge.
 */
export class BpeTrainer {
  /** Merges learned so far, as [left, right]; merge i made token 256+i. */
  readonly merges: Array<[number, number]> = [];
  /** Bytes of every token so far (index = id). */
  readonly tokenBytes: Uint8Array[] = [];
  /** Number of chunks the text was split into, and how many were distinct. */
  readonly chunkCount: number;
  readonly distinctChunks: number;
  /** Total UTF-8 bytes of the training text (as chunks). */
  readonly byteCount: number;

  // The distinct chunks, back to back, as a doubly linked list of nodes;
  // a node whose token was merged into its left neighbour has tok = -1.
  private readonly tok: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  /** Frequency of the chunk a node belongs to. */
  private readonly weight: Int32Array;

  private readonly stats = new Map<number, PairStat>();
  private readonly heap = new CountHeap();

  /**
   * Splits `text` with `pattern` (null: the whole text is one chunk) and
   * counts every adjacent byte pair.
   */
  constructor(text: string, pattern: SplitPattern | null) {
    const index = new Map<string, number>();
    const distinct: string[] = [];
    const freq: number[] = [];
    let chunkCount = 0;
    const add = (chunk: string) => {
      chunkCount++;
      const i = index.get(chunk);
      if (i === undefined) {
        index.set(chunk, distinct.length);
        distinct.push(chunk);
        freq.push(1);
      } else freq[i]++;
    };
    if (pattern === null) {
      if (text.length > 0) add(text);
    } else pattern.forEach(text, add);
    this.chunkCount = chunkCount;
    this.distinctChunks = distinct.length;

    const encoded = distinct.map((c) => utf8Encode(c));
    let total = 0;
    let byteCount = 0;
    encoded.forEach((b, i) => {
      total += b.length;
      byteCount += b.length * freq[i];
    });
    this.byteCount = byteCount;
    this.tok = new Int32Array(total);
    this.next = new Int32Array(total);
    this.prev = new Int32Array(total);
    this.weight = new Int32Array(total);
    let at = 0;
    encoded.forEach((bytes, i) => {
      for (let k = 0; k < bytes.length; k++, at++) {
        this.tok[at] = bytes[k];
        this.prev[at] = k > 0 ? at - 1 : -1;
        this.next[at] = k < bytes.length - 1 ? at + 1 : -1;
        this.weight[at] = freq[i];
      }
    });
    for (let b = 0; b < 256; b++) this.tokenBytes.push(Uint8Array.of(b));

    for (let p = 0; p < total; p++) {
      const q = this.next[p];
      if (q === -1) continue;
      const key = pairKey(this.tok[p], this.tok[q]);
      let st = this.stats.get(key);
      if (st === undefined) {
        st = { left: this.tok[p], right: this.tok[q], count: 0, positions: [] };
        this.stats.set(key, st);
      }
      st.count += this.weight[p];
      st.positions.push(p);
    }
    for (const [key, st] of this.stats) this.heap.push(st.count, key);
  }

  /** Id the next merge will create. */
  get nextId(): number {
    return 256 + this.merges.length;
  }

  /**
   * Finds the most frequent pair, merges it everywhere and returns what was
   * learned; null when no adjacent pair is left (every chunk is one token).
   */
  step(): MergeInfo | null {
    if (this.nextId >= MAX_VOCAB) throw new RangeError(`Vocabulary too large (max ${MAX_VOCAB} tokens)`);
    const best = this.popMostFrequent();
    if (best === null) return null;
    const count = best.count;
    const id = this.nextId;
    this.mergeEverywhere(best, id);
    this.merges.push([best.left, best.right]);
    const lb = this.tokenBytes[best.left];
    const rb = this.tokenBytes[best.right];
    const bytes = new Uint8Array(lb.length + rb.length);
    bytes.set(lb);
    bytes.set(rb, lb.length);
    this.tokenBytes.push(bytes);
    return { index: id - 256, id, left: best.left, right: best.right, bytes, count };
  }

  /** The highest-count pair (ties: first occurrence in the text), removed from the heap. */
  private popMostFrequent(): PairStat | null {
    const heap = this.heap;
    const ties: PairStat[] = [];
    let bestCount = -1;
    while (heap.size > 0) {
      const count = heap.topCount();
      if (ties.length > 0 && count < bestCount) break;
      const key = heap.pop();
      const st = this.stats.get(key);
      if (st === undefined) continue; // the pair no longer occurs
      if (st.count !== count) {
        heap.push(st.count, key); // stale: its count dropped since it was queued
        continue;
      }
      if (ties.length === 0) bestCount = count;
      if (!ties.includes(st)) ties.push(st);
    }
    if (ties.length === 0) return null;
    let best = ties[0];
    if (ties.length > 1) {
      let bestPos = this.firstPosition(best);
      for (let i = 1; i < ties.length; i++) {
        const pos = this.firstPosition(ties[i]);
        if (pos < bestPos) {
          best = ties[i];
          bestPos = pos;
        }
      }
      for (const st of ties) if (st !== best) heap.push(st.count, pairKey(st.left, st.right));
    }
    return best;
  }

  /** Whether the pair still sits at node p. */
  private occursAt(st: PairStat, p: number): boolean {
    if (this.tok[p] !== st.left) return false;
    const q = this.next[p];
    return q !== -1 && this.tok[q] === st.right;
  }

  /**
   * The earliest node where the pair occurs. Distinct chunks are laid out in
   * order of first appearance, so this orders pairs by first occurrence in
   * the text, which is how minbpe breaks ties.
   */
  private firstPosition(st: PairStat): number {
    let first = Infinity;
    for (const p of st.positions) if (p < first && this.occursAt(st, p)) first = p;
    return first;
  }

  private decrement(a: number, b: number, w: number): void {
    const key = pairKey(a, b);
    const st = this.stats.get(key);
    if (st === undefined) return;
    st.count -= w;
    if (st.count <= 0) this.stats.delete(key);
  }

  private increment(a: number, b: number, w: number, p: number, created: Set<number>): void {
    const key = pairKey(a, b);
    let st = this.stats.get(key);
    if (st === undefined) {
      st = { left: a, right: b, count: 0, positions: [] };
      this.stats.set(key, st);
    }
    st.count += w;
    st.positions.push(p);
    created.add(key);
  }

  /** Replaces every occurrence of the pair (left to right) by token `id`. */
  private mergeEverywhere(st: PairStat, id: number): void {
    const { tok, next, prev, weight } = this;
    const a = st.left;
    const b = st.right;
    const positions = st.positions;
    for (let i = 1; i < positions.length; i++) {
      if (positions[i] < positions[i - 1]) {
        positions.sort((x, y) => x - y);
        break;
      }
    }
    const created = new Set<number>();
    for (const p of positions) {
      if (tok[p] !== a) continue;
      const q = next[p];
      if (q === -1 || tok[q] !== b) continue;
      const w = weight[p];
      const l = prev[p];
      const r = next[q];
      if (l !== -1) {
        this.decrement(tok[l], a, w);
        this.increment(tok[l], id, w, l, created);
      }
      if (r !== -1) {
        this.decrement(b, tok[r], w);
        this.increment(id, tok[r], w, p, created);
      }
      tok[p] = id;
      tok[q] = -1;
      next[p] = r;
      if (r !== -1) prev[r] = p;
    }
    this.stats.delete(pairKey(a, b));
    for (const key of created) {
      const s = this.stats.get(key);
      if (s !== undefined) this.heap.push(s.count, key);
    }
  }
}
