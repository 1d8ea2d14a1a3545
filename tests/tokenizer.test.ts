import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { consoleHost, DISPLAY_SYMBOL, setHost, type DisplayHandle, type Host } from "../lib/host";
import * as llm from "../lib";
import {
  BPETokenizer, CharTokenizer, DisallowedSpecialTokenError, encodingFor, GPT4_SPLIT_PATTERN,
  loadTokenizer, utf8Encode, type MergeInfo,
} from "../lib/tokenizer";
import { Rng } from "../lib/model/rng";

const root = path.join(__dirname, "..", "..");
const shakespeare = fs.readFileSync(path.join(root, "datasets", "tinyshakespeare.txt"), "utf8");
const mixed = fs.readFileSync(path.join(root, "tests", "fixtures", "tokenizer", "mixed.txt"), "utf8");

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "llmlab-tok-"));
}

/** A seeded uniform [0, 1) generator (the library's Rng). */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Random well-formed strings over many scripts, whitespace, emoji and all planes. */
function randomValidString(rand: () => number, maxLen: number): string {
  const pools = [
    () => "abcXYZ ,.'!?0123456789\n\t"[Math.floor(rand() * 25)],
    () => String.fromCodePoint(0x4e00 + Math.floor(rand() * 0x5000)),
    () => String.fromCodePoint(0x0400 + Math.floor(rand() * 0x100)),
    () => String.fromCodePoint(0x0300 + Math.floor(rand() * 0x70)),
    () => ["👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "#️⃣", "😀"][Math.floor(rand() * 5)],
    () => {
      let cp = Math.floor(rand() * 0x110000);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x20;
      return String.fromCodePoint(cp);
    },
  ];
  let s = "";
  const n = Math.floor(rand() * maxLen);
  for (let i = 0; i < n; i++) s += pools[Math.floor(rand() * pools.length)]();
  return s;
}

function withHost<T>(host: Host, fn: () => T): T {
  setHost(host);
  try {
    return fn();
  } finally {
    setHost(consoleHost);
  }
}

// ------------------------------------------------------------------ training

test("golden: 'aaabdaaabac' with 3 merges encodes to [258, 100, 258, 97, 99]", async () => {
  for (const pattern of [GPT4_SPLIT_PATTERN, null]) {
    const tok = new BPETokenizer({ pattern });
    await tok.train("aaabdaaabac", 256 + 3);
    assert.deepEqual(tok.encode("aaabdaaabac"), [258, 100, 258, 97, 99]);
    assert.equal(tok.decode([258, 100, 258, 97, 99]), "aaabdaaabac");
    assert.equal(tok.vocabSize, 259);
    assert.deepEqual(tok.merges.map((m) => [m.left, m.right, m.id]), [[97, 97, 256], [256, 97, 257], [257, 98, 258]]);
    assert.equal(Buffer.from(tok.tokenBytes(258)).toString(), "aaab");
  }
  const sync = new BPETokenizer().trainSync("aaabdaaabac", 259);
  assert.deepEqual(sync.encode("aaabdaaabac"), [258, 100, 258, 97, 99]);
});

test("training learns exactly minbpe's merges (ties included) and encodes like it", async () => {
  const cases = JSON.parse(fs.readFileSync(path.join(root, "tests", "fixtures", "tokenizer", "minbpe-golden.json"), "utf8"));
  const resolve = (spec: { text?: string; shakespeare?: [number, number] }) =>
    spec.text ?? shakespeare.slice(spec.shakespeare![0], spec.shakespeare![1]);
  assert.equal(cases.length, 4);
  for (const c of cases) {
    const tok = new BPETokenizer({ pattern: c.pattern === "gpt4" ? GPT4_SPLIT_PATTERN : null });
    tok.trainSync(resolve(c.train), c.vocabSize);
    assert.deepEqual(tok.merges.map((m) => [m.left, m.right]), c.merges, c.name);
    assert.deepEqual(tok.encode(resolve(c.test)), c.testIds, c.name);
  }
});

test("train: named split patterns, and outside a notebook it has finished when it returns", async () => {
  const text = shakespeare.slice(0, 200000);
  const a = new BPETokenizer({ pattern: "gpt2" });
  assert.equal(a.pattern, llm.tokenizer.GPT2_SPLIT_PATTERN);
  const pending = a.train(text, 600); // not awaited: no live view or signal, so it ran to completion
  assert.equal(a.merges.length, 344);
  assert.equal(await pending, a);
  const b = await BPETokenizer.train(text, 600, { pattern: llm.tokenizer.GPT2_SPLIT_PATTERN });
  assert.deepEqual(b.merges, a.merges);
  assert.equal(new BPETokenizer({ pattern: "o200k_base" }).pattern, llm.tokenizer.GPT4O_SPLIT_PATTERN);
  assert.equal(new BPETokenizer({ pattern: /\w+|\s+/ }).pattern, "\\w+|\\s+");
});

test("training stops early when every chunk is a single token", () => {
  const tok = new BPETokenizer().trainSync("ab ab ab", 1000);
  // chunks: "ab", " ab", " ab" → merges "ab", " ab" and nothing more to merge
  assert.equal(tok.merges.length, 2);
  assert.deepEqual(tok.encode("ab ab"), [256, 257]);
});

test("train reports merges through onMerge/onProgress and a live view updated in place", async () => {
  const merges: MergeInfo[] = [];
  const progress: Array<[number, number, boolean]> = [];
  const shown: unknown[] = [];
  const updates: unknown[] = [];
  const host: Host = {
    display(obj: unknown): DisplayHandle {
      shown.push(obj);
      return { id: "live", update: (next: unknown) => updates.push(next) };
    },
    abortSignal: () => undefined,
    interactive: true,
  };
  setHost(host);
  try {
    await new BPETokenizer().train(shakespeare.slice(0, 20000), 256 + 40, {
      onMerge: (m) => merges.push(m),
      every: 10,
      onProgress: (p) => progress.push([p.done, p.total, p.finished]),
      live: 5,
    });
  } finally {
    setHost(consoleHost);
  }
  assert.equal(merges.length, 40);
  assert.deepEqual(merges.map((m) => m.id), Array.from({ length: 40 }, (_, i) => 256 + i));
  assert.ok(merges.every((m, i) => i === 0 || m.count <= merges[i - 1].count), "counts never increase");
  assert.deepEqual(progress, [[10, 40, false], [20, 40, false], [30, 40, false], [40, 40, false], [40, 40, true]]);
  assert.equal(shown.length, 1);
  const last = (updates.at(-1) as any)[DISPLAY_SYMBOL]();
  assert.match(last["text/plain"], /Trained: 40 \/ 40 merges/);
  assert.match(last["text/html"], /<table/);
  assert.equal((last["text/html"].match(/<tr>/g) ?? []).length, 1 + 5, "header + 5 latest merges");
});

test("train honours an abort signal and leaves the tokenizer unchanged", async () => {
  const tok = new BPETokenizer();
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(tok.train(shakespeare, 4096, { signal: ac.signal }), { name: "AbortError" });
  assert.equal(tok.vocabSize, 256);
  assert.deepEqual(tok.encode("hi"), [104, 105]);
});

test("training rejects bad arguments with clear errors", async () => {
  const tok = new BPETokenizer();
  await assert.rejects(tok.train("abc", 255), /vocabSize must be an integer ≥ 256/);
  await assert.rejects(tok.train("abc", 300.5), /vocabSize/);
  await assert.rejects(tok.train(42 as any, 300), /Expected the training text to be a string, got number/);
  assert.throws(() => new BPETokenizer({ pattern: "(" }), /Invalid split pattern/);
  tok.registerSpecialTokens({ "<|end|>": 260 });
  await assert.rejects(tok.train("abc", 300), /Special token "<\|end\|>" has id 260/);
});

// ------------------------------------------------------------------ encode / decode

test("decode(encode(s)) === s for random well-formed strings (trained and pretrained)", () => {
  const trained = new BPETokenizer().trainSync(shakespeare.slice(0, 50000) + mixed.slice(0, 20000), 600);
  const noPattern = new BPETokenizer({ pattern: null }).trainSync(mixed.slice(0, 20000), 400);
  const tokenizers = [trained, noPattern, encodingFor("gpt2"), encodingFor("cl100k_base"), encodingFor("o200k_base")];
  const rand = rng(7);
  for (let i = 0; i < 300; i++) {
    const s = randomValidString(rand, 60);
    for (const tok of tokenizers) assert.equal(tok.decode(tok.encode(s)), s, `${tok.name}: ${JSON.stringify(s)}`);
  }
  for (const tok of tokenizers) assert.equal(tok.decode(tok.encode(mixed)), mixed, tok.name);
});

test("lone surrogates encode as U+FFFD (like TextEncoder), so they decode as U+FFFD", () => {
  const s = "a\ud800b \udc00 \ud83d\ud83d 😀\ude00";
  const expected = "a\ufffdb \ufffd \ufffd\ufffd 😀\ufffd";
  for (const tok of [encodingFor("cl100k_base"), new BPETokenizer().trainSync(mixed.slice(0, 5000), 300)]) {
    const ids = tok.encode(s);
    assert.deepEqual(ids, tok.encode(expected), tok.name);
    assert.equal(tok.decode(ids), expected);
    assert.deepEqual(Array.from(tok.decodeBytes(ids)), Array.from(utf8Encode(s)));
  }
});

test("decode replaces invalid UTF-8 like Python's errors='replace' and keeps a BOM", () => {
  const tok = new BPETokenizer(); // byte tokens only: id = byte
  assert.equal(tok.decode([0xe4, 0xbd]), "\ufffd"); // truncated 3-byte character
  assert.equal(tok.decode([0xf0, 0x80, 0x80]), "\ufffd\ufffd\ufffd"); // invalid continuation after F0
  assert.equal(tok.decode([0x61, 0xff, 0x62]), "a\ufffdb");
  assert.equal(tok.decode([0xed, 0xa0, 0x80]), "\ufffd\ufffd\ufffd"); // encoded surrogate
  assert.equal(tok.decode([0xef, 0xbb, 0xbf, 0x61]), "\ufeffa");
  const gpt2 = encodingFor("gpt2");
  const ids = gpt2.encode("你好");
  assert.equal(gpt2.decode(ids.slice(0, 1)).endsWith("\ufffd"), true);
  assert.equal(gpt2.decode(ids), "你好");
});

test("decode and tokenBytes reject ids outside the vocabulary", () => {
  const cl = encodingFor("cl100k_base");
  assert.throws(() => cl.decode([-1]), /Token id -1 \(at index 0\) is not in the vocabulary/);
  assert.throws(() => cl.decode([1, 2, 1e9]), /Token id 1000000000 \(at index 2\)/);
  assert.throws(() => cl.decode([100261]), /Token id 100261 \(at index 0\) is not a token/);
  assert.throws(() => cl.decode([1.5]), /not an integer/);
  assert.throws(() => cl.decode("abc" as any), /Expected token ids/);
  assert.throws(() => cl.tokenBytes(100256), /not a token/);
  assert.equal(cl.decode([100257]), "<|endoftext|>");
  assert.throws(() => cl.encode(null as any), /Expected text to be a string, got null/);
  assert.throws(() => cl.encode(["a"] as any), /got an array/);
});

test("special tokens follow tiktoken's allowed/disallowed rules", () => {
  const cl = encodingFor("cl100k_base");
  const text = "Hi<|endoftext|> there<|fim_prefix|>";
  assert.throws(() => cl.encode(text), (e: unknown) => {
    assert.ok(e instanceof DisallowedSpecialTokenError);
    assert.equal(e.token, "<|endoftext|>");
    assert.match(e.message, /special token "<\|endoftext\|>".*allowedSpecial.*disallowedSpecial/s);
    return true;
  });
  const all = cl.encode(text, { allowedSpecial: "all" });
  assert.equal(all.filter((id) => id === 100257).length, 1);
  assert.ok(all.includes(100258));
  assert.equal(cl.decode(all), text);
  // Allowing one still rejects the other…
  assert.throws(() => cl.encode(text, { allowedSpecial: new Set(["<|endoftext|>"]) }), /<\|fim_prefix\|>/);
  // …unless it is not disallowed: then it is ordinary text.
  const one = cl.encode(text, { allowedSpecial: ["<|endoftext|>"], disallowedSpecial: "none" });
  assert.ok(one.includes(100257) && !one.includes(100258));
  assert.deepEqual(cl.encode(text, { disallowedSpecial: "none" }), cl.encodeOrdinary(text));
  assert.ok(!cl.encodeOrdinary(text).includes(100257));
  assert.throws(() => cl.encode("x", { allowedSpecial: ["<|nope|>"] }), /"<\|nope\|>" is not a special token/);
  assert.deepEqual(cl.specialTokens, {
    "<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276,
  });
  assert.deepEqual(encodingFor("o200k_base").specialTokens, { "<|endoftext|>": 199999, "<|endofprompt|>": 200018 });
  assert.equal(encodingFor("gpt2").vocabSize, 50257);
  assert.equal(cl.vocabSize, 100277);
  assert.equal(encodingFor("o200k_base").vocabSize, 200019);
});

test("registerSpecialTokens: explicit ids, automatic ids, and collisions", () => {
  const tok = new BPETokenizer().trainSync("hello hello world", 260);
  tok.registerSpecialTokens(["<|start|>", "<|end|>"]);
  assert.deepEqual(tok.specialTokens, { "<|start|>": 260, "<|end|>": 261 });
  tok.registerSpecialTokens({ "<|pad|>": 300 });
  assert.equal(tok.vocabSize, 301);
  assert.deepEqual(tok.encode("<|start|>hello<|pad|>", { allowedSpecial: "all" }).filter((i) => i >= 260), [260, 300]);
  assert.throws(() => tok.registerSpecialTokens({ "<|x|>": 100 }), /id 100 is an ordinary token/);
  assert.throws(() => tok.registerSpecialTokens({ "<|x|>": 261 }), /already "<\|end\|>"/);
  assert.throws(() => tok.registerSpecialTokens({ "": 400 }), /non-empty string/);
  // The extra special token only affects this tokenizer object.
  const a = encodingFor("gpt2").registerSpecialTokens(["<|user|>"]);
  assert.equal(a.specialTokens["<|user|>"], 50257);
  assert.equal(encodingFor("gpt2").specialTokens["<|user|>"], undefined);
});

test("encodingFor accepts encoding and model names, and names the known ones on error", () => {
  assert.equal(encodingFor("GPT-4o").name, "o200k_base");
  assert.equal(encodingFor("gpt-4").name, "cl100k_base");
  assert.deepEqual(encodingFor("r50k_base").encode("hello world"), encodingFor("gpt2").encode("hello world"));
  assert.throws(() => encodingFor("p99k"), /Unknown encoding "p99k"; known encodings: gpt2, r50k_base, cl100k_base, o200k_base/);
});

test("recovered merges of GPT-2 rebuild every token and encode like the ranks", () => {
  const gpt2 = encodingFor("gpt2");
  const merges = gpt2.merges;
  assert.equal(merges.length, 50000);
  assert.equal(gpt2.printable(merges[0].id), " t");
  for (const m of merges) {
    const joined = Buffer.concat([gpt2.tokenBytes(m.left), gpt2.tokenBytes(m.right)]);
    assert.ok(joined.equals(gpt2.tokenBytes(m.id)), `merge ${m.id}`);
  }
  // minbpe's encode with these merges (lowest merged id first, all occurrences) gives GPT-2's ids.
  const byteToId = new Map<number, number>();
  for (let id = 0; id < 256; id++) byteToId.set(gpt2.tokenBytes(id)[0], id);
  const rank = new Map(merges.map((m) => [`${m.left},${m.right}`, m.id]));
  const minbpe = (chunk: string): number[] => {
    let ids = Array.from(Buffer.from(chunk, "utf8"), (b) => byteToId.get(b)!);
    for (;;) {
      let best = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) best = Math.min(best, rank.get(`${ids[i]},${ids[i + 1]}`) ?? Infinity);
      if (best === Infinity) return ids;
      const m = merges[best - 256];
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === m.left && ids[i + 1] === m.right) {
          out.push(best);
          i++;
        } else out.push(ids[i]);
      }
      ids = out;
    }
  };
  const sample = shakespeare.slice(0, 3000) + mixed.slice(0, 3000);
  const expected = llm.tokenizer.chunks(sample, llm.tokenizer.GPT2_SPLIT_PATTERN).flatMap(minbpe);
  assert.deepEqual(gpt2.encodeOrdinary(sample), expected);
});

test("bytesPerToken is UTF-8 bytes divided by tokens", () => {
  const cl = encodingFor("cl100k_base");
  const text = "Hello, world! 你好，世界！";
  assert.equal(cl.bytesPerToken(text), Buffer.byteLength(text) / cl.encode(text).length);
  assert.equal(cl.bytesPerToken(""), 0);
  const chars = CharTokenizer.fromText("héllo");
  assert.equal(chars.bytesPerToken("héllo"), 6 / 5);
});

// ------------------------------------------------------------------ save / load

test("save/load round-trips trained, pretrained and character tokenizers with identical encodings", () => {
  const dir = tmpDir();
  const trained = new BPETokenizer({ name: "mine" }).trainSync(shakespeare.slice(0, 30000), 500);
  trained.registerSpecialTokens({ "<|endoftext|>": 500, "<|pad|>": 501 });
  const file = trained.save(path.join(dir, "bpe.json"));
  const loaded = BPETokenizer.load(file);
  assert.equal(loaded.name, "mine");
  assert.deepEqual(loaded.merges, trained.merges);
  assert.deepEqual(loaded.specialTokens, trained.specialTokens);
  assert.equal(loaded.pattern, trained.pattern);
  const text = mixed + "<|endoftext|>";
  assert.deepEqual(loaded.encode(text, { allowedSpecial: "all" }), trained.encode(text, { allowedSpecial: "all" }));

  // A directory gets tokenizer.json; loadTokenizer dispatches on the saved type.
  const modelDir = path.join(dir, "model");
  fs.mkdirSync(modelDir);
  assert.equal(trained.save(modelDir), path.join(modelDir, "tokenizer.json"));
  assert.ok(loadTokenizer(modelDir) instanceof BPETokenizer);

  const cl = encodingFor("cl100k_base").registerSpecialTokens({ "<|im_start|>": 100264 });
  const clJson = JSON.parse(JSON.stringify(cl));
  assert.equal(clJson.encoding, "cl100k_base");
  assert.equal(clJson.merges, undefined, "pretrained vocabularies are saved by name");
  const cl2 = loadTokenizer(JSON.stringify(clJson)) as BPETokenizer;
  assert.deepEqual(cl2.encode(mixed, { disallowedSpecial: "none" }), cl.encode(mixed, { disallowedSpecial: "none" }));
  assert.equal(cl2.specialTokens["<|im_start|>"], 100264);

  const noPattern = new BPETokenizer({ pattern: null }).trainSync("abcabcabc abc", 262);
  const np2 = loadTokenizer(noPattern.toJSON()) as BPETokenizer;
  assert.equal(np2.pattern, null);
  assert.deepEqual(np2.encode("abcabc abc"), noPattern.encode("abcabc abc"));

  const chars = CharTokenizer.fromText(shakespeare);
  const chars2 = loadTokenizer(chars.save(path.join(dir, "chars.json")));
  assert.ok(chars2 instanceof CharTokenizer);
  assert.deepEqual(chars2.encode(shakespeare.slice(0, 5000)), chars.encode(shakespeare.slice(0, 5000)));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("load reports corrupt or foreign files clearly", () => {
  const dir = tmpDir();
  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  assert.throws(() => loadTokenizer(write("a.json", "{not json")), /a\.json is not valid JSON/);
  assert.throws(() => loadTokenizer(write("b.json", '{"merges": []}')), /not a saved llmlab tokenizer/);
  assert.throws(() => loadTokenizer(write("c.json", "[1,2]")), /must be a JSON object/);
  const base = { format: "llmlab-tokenizer", version: 1 };
  assert.throws(() => loadTokenizer({ ...base, version: 99, type: "bpe" }), /format version 99/);
  assert.throws(() => loadTokenizer({ ...base, type: "wordpiece" }), /Unknown tokenizer type "wordpiece"/);
  assert.throws(() => loadTokenizer({ ...base, type: "bpe", merges: [[97, 300]] }), /refers to token 300/);
  assert.throws(() => loadTokenizer({ ...base, type: "bpe", merges: [[97]] }), /merge 0 is not a \[left, right\] pair/);
  assert.throws(() => loadTokenizer({ ...base, type: "bpe", merges: "x" }), /"merges" must be an array/);
  assert.throws(() => loadTokenizer({ ...base, type: "bpe", encoding: "nope" }), /Unknown encoding "nope"/);
  assert.throws(() => loadTokenizer({ ...base, type: "char", chars: ["a", "a"] }), /appears twice/);
  assert.throws(() => loadTokenizer({ ...base, type: "char", chars: ["ab"] }), /single character/);
  assert.throws(() => loadTokenizer(path.join(dir, "missing.json")), /Cannot read tokenizer file .*missing\.json/);
  fs.rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ character tokenizer

test("CharTokenizer uses nanoGPT's vocabulary: sorted characters of the corpus", () => {
  const tok = CharTokenizer.fromText(shakespeare);
  assert.equal(tok.vocabSize, 65);
  assert.deepEqual(tok.encode("\n !"), [0, 1, 2]);
  assert.equal(tok.chars.join(""), "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
  assert.deepEqual(tok.encode("hii there"), [46, 47, 47, 1, 58, 46, 43, 56, 43]);
  assert.equal(tok.decode(tok.encode(shakespeare.slice(0, 1000))), shakespeare.slice(0, 1000));
  assert.throws(() => tok.encode("hello 🙂"), /Character "🙂" \(U\+1F642\) at position 6 is not in the vocabulary of 65 characters/);
  assert.throws(() => tok.decode([65]), /Token id 65 \(at index 0\) is not in the vocabulary/);
  // Code point order (like Python), not UTF-16 order: U+FF01 sorts before U+1F600.
  assert.deepEqual(CharTokenizer.fromText("😀！a").chars, ["a", "！", "😀"]);
  assert.deepEqual(CharTokenizer.fromText("😀！a").encode("a😀"), [0, 2]);
  // A string is a corpus; an array is the vocabulary in order.
  assert.deepEqual(new CharTokenizer("hello").chars, ["e", "h", "l", "o"]);
  assert.deepEqual(new CharTokenizer(["z", "a"]).encode("az"), [1, 0]);
});

// ------------------------------------------------------------------ display

test("visualize renders escaped, coloured token spans with ids on hover and a text fallback", () => {
  const cl = encodingFor("cl100k_base");
  const view = cl.visualize("<script>alert('x')</script>\n  🤷🏽‍♀️ done<|endoftext|>");
  const bundle = (view as any)[DISPLAY_SYMBOL]();
  const html: string = bundle["text/html"];
  assert.ok(!html.includes("<script>"), "text is HTML-escaped");
  assert.ok(html.includes("&lt;"));
  assert.match(html, /<span title="id \d+/);
  assert.match(html, /↵/, "newlines are visible");
  assert.match(html, /·/, "spaces are visible");
  assert.match(html, /ids \d+, \d+/, "the emoji's tokens share a span");
  assert.match(html, /background:#444[^>]*>&lt;\|endoftext\|&gt;</, "special tokens are marked");
  assert.equal((html.match(/<span title=/g) ?? []).length <= view.length, true);
  assert.match(bundle["text/plain"], /^cl100k_base: \d+ tokens, \d+ bytes/);
  assert.match(bundle["text/plain"], /\|/);
  assert.deepEqual(view.ids, cl.encode("<script>alert('x')</script>\n  🤷🏽‍♀️ done<|endoftext|>", { allowedSpecial: "all" }));

  const chars = CharTokenizer.fromText("ab\n");
  assert.match((chars.visualize("ab\n") as any)[DISPLAY_SYMBOL]()["text/html"], /title="id 1/);
});

test("tokenizers display a summary (text and HTML)", () => {
  const cl = (encodingFor("cl100k_base") as any)[DISPLAY_SYMBOL]();
  assert.match(cl["text/plain"], /BPETokenizer cl100k_base/);
  assert.match(cl["text/plain"], /100277 \(256 bytes \+ 100000 merges \+ 5 special\)/);
  assert.match(cl["text/plain"], /GPT-4 \(cl100k_base\)/);
  assert.match(cl["text/html"], /&lt;\|endoftext\|&gt;=100257/);
  const trained = new BPETokenizer().trainSync(shakespeare.slice(0, 20000), 300);
  const t = (trained as any)[DISPLAY_SYMBOL]();
  assert.match(t["text/plain"], /first and last 8 merges/);
  assert.match(t["text/html"], /<table/);
  const c = (CharTokenizer.fromText("ab <") as any)[DISPLAY_SYMBOL]();
  assert.match(c["text/html"], /&lt;/);
  assert.match(String(trained), /BPETokenizer\(bpe-300: vocabSize 300, 44 merges, 0 special tokens\)/);
});

test("the library exports the tokenizer API at top level and as a namespace", () => {
  assert.equal(llm.BPETokenizer, BPETokenizer);
  assert.equal(llm.CharTokenizer, CharTokenizer);
  assert.equal(llm.encodingFor, encodingFor);
  assert.equal(llm.loadTokenizer, loadTokenizer);
  assert.equal(llm.tokenizer.encodingFor, encodingFor);
  assert.deepEqual(llm.tokenizer.chunks("Hello world's 12345"), ["Hello", " world", "'s", " ", "123", "45"]);
});

// ------------------------------------------------------------------ CLI

test("llmlab tokenize prints ids from stdin, as JSON with --json, with clear errors", () => {
  const cli = path.join(root, "dist", "kernel", "cli", "tokenize.js");
  const run = (args: string[], input: string) => spawnSync(process.execPath, [cli, ...args], { input, encoding: "utf8" });
  let r = run(["--encoding", "cl100k_base"], "Hello world");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, encodingFor("cl100k_base").encode("Hello world").join(" ") + "\n");
  r = run(["--encoding", "gpt2", "--json"], "Hello world\n");
  assert.deepEqual(JSON.parse(r.stdout), { ids: encodingFor("gpt2").encode("Hello world\n") });
  r = run(["--encoding=o200k_base", "--json"], "");
  assert.deepEqual(JSON.parse(r.stdout), { ids: [] });
  r = run(["-e", "gpt2"], "a<|endoftext|>");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /special token "<\|endoftext\|>".*--special allow/);
  r = run(["-e", "gpt2", "--special", "allow"], "a<|endoftext|>");
  assert.equal(r.stdout.trim(), "64 50256");
  r = run(["--encoding", "p99k"], "x");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown encoding 'p99k'/);
  r = run([], "x");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--encoding NAME is required/);

  const dir = tmpDir();
  const trained = new BPETokenizer().trainSync(shakespeare.slice(0, 10000), 300);
  const file = trained.save(path.join(dir, "tokenizer.json"));
  r = run(["--encoding", file, "--json"], "First Citizen:");
  assert.deepEqual(JSON.parse(r.stdout).ids, trained.encode("First Citizen:"));
  fs.writeFileSync(path.join(dir, "bad.json"), "{oops");
  r = run(["--encoding", path.join(dir, "bad.json")], "x");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not valid JSON/);
  fs.rmSync(dir, { recursive: true, force: true });
});
