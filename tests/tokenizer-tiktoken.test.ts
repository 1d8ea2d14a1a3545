// Our GPT-2 / GPT-4 / GPT-4o tokenization must give exactly js-tiktoken's ids:
// on a large mixed text, on that text with lone surrogates, on long pieces,
// with special tokens, and on seeded random Unicode strings.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { encodingFor, type BPETokenizer } from "../lib/tokenizer";
import { Rng } from "../lib/model/rng";

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { Tiktoken } = require("js-tiktoken/lite");

const root = path.join(__dirname, "..", "..");
const mixed = fs.readFileSync(path.join(root, "tests", "fixtures", "tokenizer", "mixed.txt"), "utf8");
const NAMES = ["gpt2", "cl100k_base", "o200k_base"] as const;

interface Reference {
  encode(text: string, allowedSpecial?: string[] | "all", disallowedSpecial?: string[] | "all"): number[];
  decode(ids: number[]): string;
}

const pairs = new Map<string, { ours: BPETokenizer; ref: Reference; special: Record<string, number> }>();
function pair(name: (typeof NAMES)[number]) {
  let p = pairs.get(name);
  if (p === undefined) {
    const ranks = require(`js-tiktoken/ranks/${name}`);
    p = { ours: encodingFor(name), ref: new Tiktoken(ranks) as Reference, special: ranks.special_tokens };
    pairs.set(name, p);
  }
  return p;
}

/** Index of the first difference, or -1. */
function firstDifference(a: number[], b: number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function assertSameIds(name: string, text: string, ours: number[], ref: number[], label: string): void {
  const at = firstDifference(ours, ref);
  if (at >= 0) {
    const context = JSON.stringify(pair(name as any).ours.decode(ref.slice(Math.max(0, at - 3), at + 3)));
    assert.fail(`${name} ${label}: ids differ at ${at} of ${ref.length} (ours ${ours[at]}, js-tiktoken ${ref[at]}) near ${context}`);
  }
}

test("the mixed test text is large and covers the required cases", () => {
  assert.ok(Buffer.byteLength(mixed) >= 100_000, "at least 100 KB");
  const required: Array<[string, RegExp]> = [
    ["Chinese", /\p{Script=Han}/u], ["Japanese kana", /\p{Script=Hiragana}/u], ["Korean", /\p{Script=Hangul}/u],
    ["Arabic", /\p{Script=Arabic}/u], ["Hindi", /\p{Script=Devanagari}/u], ["Russian", /\p{Script=Cyrillic}/u],
    ["ZWJ emoji", /\p{Extended_Pictographic}\u200d\p{Extended_Pictographic}/u], ["skin tone", /[\u{1F3FB}-\u{1F3FF}]/u],
    ["flag", /[\u{1F1E6}-\u{1F1FF}]{2}/u], ["long number", /\d{40}/], ["space run", / {30}/], ["tab run", /\t{5}/],
    ["blank lines", /\n\n\n/], ["CRLF", /\r\n/], ["trailing whitespace", / +\n/], ["upper-case contraction", /DON'T/],
    ["mixed-case contraction", /I'Ll/], ["combining mark", /\p{M}/u], ["NBSP", /\u00a0/], ["zero-width", /\u200b/],
    ["RTL mark", /\u200f/], ["BOM", /\ufeff/], ["TypeScript", /private readonly/], ["Python", /def \w+\(/],
    ["C", /#include <stdio\.h>/], ["JSON", /"id": \d+/],
  ];
  for (const [what, re] of required) assert.match(mixed, re, what);
});

for (const name of NAMES) {
  test(`${name}: ids equal js-tiktoken's on the ≥100 KB mixed text, and decode back`, () => {
    const { ours, ref } = pair(name);
    const ids = ours.encode(mixed, { disallowedSpecial: "none" });
    assertSameIds(name, mixed, ids, ref.encode(mixed, [], []), "mixed.txt");
    assert.equal(ours.decode(ids), mixed);
    // Line by line too: each line's start and end are boundaries of their own.
    for (const line of mixed.split("\n").slice(0, 4000)) {
      assertSameIds(name, line, ours.encodeOrdinary(line), ref.encode(line, [], []), JSON.stringify(line.slice(0, 40)));
    }
  });

  test(`${name}: ids equal js-tiktoken's with lone surrogates and very long pieces`, () => {
    const { ours, ref } = pair(name);
    const cps = [...mixed];
    let withSurrogates = "";
    cps.forEach((c, i) => {
      withSurrogates += c;
      if (i % 997 === 0) withSurrogates += "\ud83d";
      if (i % 1499 === 0) withSurrogates += "\udca9x";
    });
    assertSameIds(name, withSurrogates, ours.encodeOrdinary(withSurrogates), ref.encode(withSurrogates, [], []), "lone surrogates");
    // Pieces far longer than 64 bytes take the heap-based merge path. (Kept
    // moderate: js-tiktoken's merge is quadratic in the piece length.)
    const long = [
      "7".repeat(900),
      " ".repeat(800) + "x",
      "\n".repeat(300) + " \t".repeat(300),
      "的一是不了人我在有他这为之大来以个中上们".repeat(12),
      "ab".repeat(400),
      "🤷🏽‍♀️".repeat(40),
      "+-*/=<>".repeat(100),
      "aGVsbG8gd29ybGQ".repeat(50),
    ];
    for (const s of long) assertSameIds(name, s, ours.encodeOrdinary(s), ref.encode(s, [], []), `long piece ${JSON.stringify(s.slice(0, 12))}`);
  });

  test(`${name}: special tokens match js-tiktoken's`, () => {
    const { ours, ref, special } = pair(name);
    assert.deepEqual(ours.specialTokens, special);
    const names = Object.keys(special);
    const text = `start ${names.join(" mid ")} end${names[0]}${names[0]}<|not special|>`;
    assertSameIds(name, text, ours.encode(text, { allowedSpecial: "all" }), ref.encode(text, "all"), "allowed special");
    assert.equal(ours.decode(ours.encode(text, { allowedSpecial: "all" })), ref.decode(ref.encode(text, "all")));
    assert.throws(() => ours.encode(text), /special token/);
    assert.throws(() => ref.encode(text), /special token/);
  });

  test(`${name}: ids equal js-tiktoken's on 1,500 seeded random Unicode strings`, () => {
    const { ours, ref } = pair(name);
    const rand = rng(name.length * 7919 + 1);
    for (let i = 0; i < 1500; i++) {
      const s = randomString(rand, 1 + Math.floor(rand() * 80));
      const ids = ours.encodeOrdinary(s);
      assertSameIds(name, s, ids, ref.encode(s, [], []), `random string ${i} ${JSON.stringify(s)}`);
      assert.equal(ours.decode(ids), wellFormed(s));
    }
  });
}

/** `s` with every lone surrogate replaced by U+FFFD. */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

/** A seeded uniform [0, 1) generator (the library's Rng). */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Random text drawn from pools that stress the split patterns and the byte-level merges. */
function randomString(rand: () => number, pieces: number): string {
  const from = (xs: readonly string[]) => xs[Math.floor(rand() * xs.length)];
  const range = (lo: number, hi: number) => String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  const pools: Array<() => string> = [
    () => from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split("")),
    () => from(["the", " the", "The", "HELLO", "camelCase", "snake_case", "don", "I", "we", "s", "t"]),
    () => from(["'s", "'S", "'t", "'T", "'re", "'RE", "'rE", "'ve", "'Ve", "'m", "'M", "'ll", "'LL", "'lL", "'d", "'D", "'", "''", "’s"]),
    () => from("0123456789".split("")) + (rand() < 0.3 ? range(0x30, 0x39).repeat(Math.floor(rand() * 8)) : ""),
    () => from([" ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\v", "\f", "\u00a0", "\u0085", "\u1680",
      "\u2000", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "\u200b", "\u180e"]),
    () => from("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~".split("")),
    () => range(0x00c0, 0x024f), // Latin accents
    () => range(0x0300, 0x036f), // combining marks
    () => range(0x0370, 0x03ff), // Greek
    () => range(0x0400, 0x04ff), // Cyrillic
    () => range(0x0590, 0x05ff), // Hebrew
    () => range(0x0600, 0x06ff), // Arabic
    () => range(0x0900, 0x097f), // Devanagari
    () => range(0x0e00, 0x0e7f), // Thai
    () => range(0x3040, 0x30ff), // kana
    () => range(0x4e00, 0x9fff), // CJK
    () => range(0xac00, 0xd7a3), // Hangul
    () => range(0xff00, 0xffef), // fullwidth forms
    () => range(0x1d400, 0x1d7ff), // math alphanumerics
    () => range(0x1f300, 0x1faff), // emoji
    () => from(["\u200d", "\ufe0f", "\u20e3", "\u{1F3FB}", "\u{1F3FF}", "👨‍👩‍👧", "🏳️‍🌈", "🇯🇵", "🇺", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"]),
    () => range(0x1f1e6, 0x1f1ff), // regional indicators
    () => range(0xe000, 0xf8ff), // private use
    () => range(0xd800, 0xdfff), // lone surrogates
    () => {
      let cp = Math.floor(rand() * 0x110000);
      if (cp >= 0xd800 && cp <= 0xdfff) cp += 0x800;
      return String.fromCodePoint(cp);
    },
    () => range(0, 0x7f), // any ASCII, controls included
  ];
  let s = "";
  for (let i = 0; i < pieces; i++) s += pools[Math.floor(rand() * pools.length)]();
  return s;
}
