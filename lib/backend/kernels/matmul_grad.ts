// tfjs-core's BatchMatMul gradient ignores batch broadcasting: for the most
// natural linear layer, x[B,T,C] · W[C,D], it returns a [B,C,D] "gradient"
// for W and backprop fails on every backend. This gradient sums over the
// broadcast batch dims; where no broadcasting happened it is the same product.
import * as tf from "@tensorflow/tfjs";
import type { GradConfig, NamedAttrMap, Tensor } from "@tensorflow/tfjs";

/** Sum `g` over the leading/broadcast dims so it takes `shape` (a no-op when it already has it). */
function reduceTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank - 2; i++) {
    if (i < lead || shape[i - lead] === 1) axes.push(i);
  }
  return tf.reshape(tf.sum(g, axes), shape as number[]);
}

/** Collapse all leading dims into the row dimension: [..., r, c] -> [n·r, c]. */
function rows(x: Tensor): Tensor {
  return tf.reshape(x, [-1, x.shape[x.rank - 1]]);
}

/**
 * d/da and d/db of matMul(a, b, transposeA, transposeB). A rank-2 operand
 * shared by every batch of the other (the weight of a linear layer) gets its
 * gradient as one large product over all rows instead of a batched product
 * followed by a sum.
 */
export const batchMatMulGradConfig: GradConfig = {
  kernelName: "BatchMatMul",
  inputsToSave: ["a", "b"],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const g = dy as Tensor;
    const [a, b] = saved;
    const ta = !!attrs.transposeA;
    const tb = !!attrs.transposeB;
    const sharedB = b.rank === 2 && a.rank > 2 && !ta;
    const sharedA = a.rank === 2 && b.rank > 2 && tb;
    return {
      a: () => {
        if (sharedA) {
          // a is [m, k]; b is [..., n, k]; dy is [..., m, n]: da = Σ dy·b over batches.
          const dyT = tf.reshape(tf.transpose(g, [...Array.from({ length: g.rank - 2 }, (_, i) => i), g.rank - 1, g.rank - 2]), [-1, g.shape[g.rank - 2]]);
          return ta ? tf.matMul(rows(b), dyT, true, false) : tf.matMul(dyT, rows(b), true, false);
        }
        const full = !ta
          ? tf.matMul(g, b, false, !tb)
          : !tb ? tf.matMul(b, g, false, true) : tf.matMul(b, g, true, true);
        return reduceTo(full, a.shape);
      },
      b: () => {
        if (sharedB) {
          // b is shared by every row of a: one [k, rows]·[rows, n] product.
          return tb ? tf.matMul(rows(g), rows(a), true, false) : tf.matMul(rows(a), rows(g), true, false);
        }
        const full = !ta
          ? (!tb ? tf.matMul(a, g, true, false) : tf.matMul(g, a, true, false))
          : (!tb ? tf.matMul(a, g, false, false) : tf.matMul(g, a, true, true));
        return reduceTo(full, b.shape);
      },
    };
  },
};
