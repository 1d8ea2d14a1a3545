import { test } from "node:test";
import assert from "node:assert/strict";
import { fitPowerLaw } from "../lib/eval";
import { Rng } from "../lib/model";

/** n log-spaced sizes from lo to hi. */
function sizes(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => lo * Math.pow(hi / lo, i / (n - 1)));
}

function close(actual: number, expected: number, relTol: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= relTol * Math.abs(expected),
    `${what}: got ${actual}, expected ${expected} (± ${(relTol * 100).toFixed(2)}%)`,
  );
}

test("pure power law: recovers a and α exactly from noiseless data", () => {
  const ns = sizes(1e4, 1e7, 6);
  const losses = ns.map((n) => 9.5 * Math.pow(n, -0.21));
  const fit = fitPowerLaw(ns, losses);
  close(fit.a, 9.5, 1e-9, "a");
  close(fit.alpha, 0.21, 1e-9, "alpha");
  assert.equal(fit.c, 0);
  assert.equal(fit.withOffset, false);
  assert.ok(fit.r2 > 1 - 1e-12, `r2 ${fit.r2}`);
  close(fit.predict(1e9), 9.5 * Math.pow(1e9, -0.21), 1e-9, "predict");
  assert.deepEqual(fit.predict([1e4]).length, 1);
});

test("offset form: recovers a, α and c from noiseless data (Kaplan-like and Chinchilla-like exponents)", () => {
  for (const [a, alpha, c] of [
    [14, 0.076, 1.2],
    [406.4, 0.34, 1.69],
    [3.0, 0.5, 0.0],
    [50, 1.3, 2.5],
  ]) {
    const ns = sizes(1e4, 1e8, 8);
    const losses = ns.map((n) => a * Math.pow(n, -alpha) + c);
    const fit = fitPowerLaw(ns, losses, { withOffset: true });
    close(fit.alpha, alpha, 1e-5, `alpha (true ${alpha})`);
    close(fit.a, a, 1e-4, `a (true ${a})`);
    assert.ok(Math.abs(fit.c - c) < 1e-5, `c: got ${fit.c}, expected ${c}`);
    assert.ok(fit.r2 > 1 - 1e-9);
    close(fit.predict(3e5), a * Math.pow(3e5, -alpha) + c, 1e-6, "predict");
  }
});

test("offset form: recovers the parameters from noisy data; the pure law then fits worse", () => {
  const rng = new Rng(7);
  const [a, alpha, c] = [20, 0.3, 1.5];
  const ns = sizes(1e4, 1e8, 25);
  // 0.5% multiplicative Gaussian noise.
  const losses = ns.map((n) => {
    const g = rng.normal();
    return (a * Math.pow(n, -alpha) + c) * (1 + 0.005 * g);
  });
  const fit = fitPowerLaw(ns, losses, { withOffset: true });
  close(fit.alpha, alpha, 0.1, "alpha");
  close(fit.c, c, 0.05, "c");
  close(fit.a, a, 0.5, "a");
  assert.ok(fit.r2 > 0.99, `r2 ${fit.r2}`);
  const pure = fitPowerLaw(ns, losses);
  // A pure power law cannot bend towards the floor: a flatter exponent, lower R².
  assert.ok(pure.alpha < fit.alpha, `pure alpha ${pure.alpha} vs offset ${fit.alpha}`);
  assert.ok(pure.r2 < fit.r2);
});

test("pure power law with noise: α within a few percent", () => {
  const rng = new Rng(3);
  const ns = sizes(1e3, 1e9, 30);
  const losses = ns.map((n) => 5 * Math.pow(n, -0.076) * Math.exp(0.01 * (rng.next() - 0.5)));
  const fit = fitPowerLaw(ns, losses);
  close(fit.alpha, 0.076, 0.05, "alpha");
  close(fit.a, 5, 0.1, "a");
});

test("three points are enough for the offset form and fit exactly", () => {
  const ns = [1e4, 1e5, 1e6];
  const losses = ns.map((n) => 4 * Math.pow(n, -0.25) + 1);
  const fit = fitPowerLaw(ns, losses, { withOffset: true });
  for (let i = 0; i < 3; i++) close(fit.predict(ns[i]), losses[i], 1e-6, `point ${i}`);
});

test("typed arrays are accepted; toString shows the law", () => {
  const fit = fitPowerLaw(new Float64Array([10, 100, 1000]), new Float32Array([2, 1, 0.5]));
  close(fit.alpha, Math.log10(2), 1e-6, "alpha");
  assert.match(fit.toString(), /^L\(N\) = .*N\^\(−0\.30\d+\).*R² 1\.0000, 3 points/);
  const compute = fitPowerLaw([1e9, 1e10, 1e11], [3, 2.5, 2.2], { withOffset: true, variable: "C" });
  assert.match(compute.toString(), /^L\(C\) = .*·C\^\(−[\d.]+\) \+ [\d.]+ /);
});

test("bad input gives clear errors", () => {
  assert.throws(() => fitPowerLaw([1, 2, 3], [1, 2]), /ns has 3 values but losses has 2/);
  assert.throws(() => fitPowerLaw([1, 0, 3], [3, 2, 1]), /ns\[1\] = 0 .*> 0/);
  assert.throws(() => fitPowerLaw([1, 2, 3], [3, -2, 1]), /losses\[1\] = -2/);
  assert.throws(() => fitPowerLaw([1, 2, NaN], [3, 2, 1]), /ns\[2\] = NaN/);
  assert.throws(() => fitPowerLaw([1, 2], [3, 2], { withOffset: true }), /3 parameters and needs at least 3 points, got 2/);
  assert.throws(() => fitPowerLaw([5], [3]), /at least 2 points, got 1/);
  assert.throws(() => fitPowerLaw([5, 5, 5], [3, 2, 1]), /at least 2 distinct values of ns/);
  assert.throws(() => fitPowerLaw("abc" as any, [1, 2, 3]), /ns must be an array/);
  assert.throws(() => fitPowerLaw([10, 100, 1000], [1, 2, 3], { withOffset: true }), /no decreasing law/);
  const fit = fitPowerLaw([10, 100], [2, 1]);
  assert.throws(() => fit.predict(-1), /n must be a finite number > 0/);
});
