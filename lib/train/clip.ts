/**
 * Global-norm gradient clipping (`torch.nn.utils.clip_grad_norm_`).
 */
import * as tf from "@tensorflow/tfjs";

/** The L2 norm of all gradients together: `√(Σ_g Σ g²)`, as a scalar tensor. */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const squares = [...grads].map((g) => tf.sum(tf.square(g)));
    return tf.sqrt(squares.length ? tf.addN(squares) : tf.scalar(0)) as tf.Scalar;
  });
}

/**
 * Scale every gradient by `min(1, maxNorm / (norm + 1e-6))` where `norm` is
 * their global norm. Returns the new gradients (same keys; the caller owns
 * them) and the norm before clipping, without reading anything back from the
 * device.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: tf.Scalar } {
  if (!(maxNorm > 0)) throw new Error(`clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  const norm = globalNorm(grads.values());
  const clipped = new Map<string, tf.Tensor>();
  tf.tidy(() => {
    const scale = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    for (const [name, g] of grads) clipped.set(name, tf.keep(tf.mul(g, scale)));
  });
  return { grads: clipped, norm };
}
