// Shared by the library's tests: run a test body once per backend present here.
import type { TestContext } from "node:test";
import { availableBackends, useBackend, BackendKind } from "../lib/backend";

let cached: Promise<BackendKind[]> | undefined;

/** The backends present on this machine (probed once per test process). */
export function backendsPresent(): Promise<BackendKind[]> {
  cached ??= availableBackends();
  return cached;
}

/** Run `body` as a subtest on every backend present, switching to it first. */
export async function forEachBackend(t: TestContext, body: (backend: BackendKind) => Promise<void> | void): Promise<void> {
  const backends = await backendsPresent();
  if (backends.length === 0) throw new Error("no tfjs backend available");
  for (const b of backends) {
    await t.test(`on ${b}`, async () => {
      await useBackend(b);
      await body(b);
    });
  }
}
