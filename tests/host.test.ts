import { test } from "node:test";
import assert from "node:assert/strict";
import { richBundle, DISPLAY_SYMBOL, throwIfAborted } from "../lib/host";

test("richBundle returns the bundle of a displayable object", () => {
  const obj = { [DISPLAY_SYMBOL]: () => ({ "text/plain": "hi" }) };
  assert.deepEqual(richBundle(obj), { "text/plain": "hi" });
  assert.equal(richBundle(42), undefined);
});

test("throwIfAborted throws an AbortError once the signal fired", () => {
  const ac = new AbortController();
  throwIfAborted(ac.signal);
  ac.abort();
  assert.throws(() => throwIfAborted(ac.signal), { name: "AbortError" });
});
