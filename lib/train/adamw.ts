/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, the same math
 * as `torch.optim.AdamW`. Following nanoGPT, 2-D and larger parameters (matrices
 * and embeddings) decay; 1-D ones (biases, norm scales) do not.
 */
import * as tf from "@tensorflow/tfjs";
import { adamwUpdateAll, AdamWSlot } from "../backend/fused";

/** Hyper-parameters of {@link AdamW}. */
export interface AdamWOptions {
  /** Learning rate (default 1e-3); a schedule may pass another per step. */
  lr?: number;
  /** First-moment decay (default 0.9). */
  beta1?: number;
  /** Second-moment decay (default 0.999, PyTorch's). */
  beta2?: number;
  /** Added to the root of the second moment (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay of ≥2-D parameters (default 0.01, PyTorch's). */
  weightDecay?: number;
}

/** The AdamW optimizer over a named set of parameters. */
export class AdamW {
  /** Base learning rate (a schedule passes the rate of each step to `step`). */
  readonly lr: number;
  /** Decay rate of the first-moment (mean) estimate. */
  readonly beta1: number;
  /** Decay rate of the second-moment (uncentred variance) estimate. */
  readonly beta2: number;
  /** Added to the root of the second moment to avoid dividing by zero. */
  readonly eps: number;
  /** Decoupled weight decay, applied to parameters with 2 or more dimensions only. */
  readonly weightDecay: number;
  /** Updates applied so far (bias correction uses stepCount + 1 for the next one). */
  stepCount = 0;
  private readonly names: string[];
  private readonly params: Map<string, tf.Variable>;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  /**
   * @param params parameters by name (e.g. `model.params`). Moment buffers are
   *   created now, so memory does not grow after the first step.
   */
  constructor(params: Map<string, tf.Variable>, options: AdamWOptions = {}) {
    this.lr = options.lr ?? 1e-3;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    const check = (name: string, v: number, lo: number, hi: number) => {
      if (typeof v !== "number" || !(v >= lo && v < hi)) throw new Error(`AdamW: ${name} must be in [${lo}, ${hi}), got ${v}`);
    };
    check("lr", this.lr, 0, Infinity);
    check("beta1", this.beta1, 0, 1);
    check("beta2", this.beta2, 0, 1);
    check("eps", this.eps, 0, Infinity);
    check("weightDecay", this.weightDecay, 0, Infinity);
    this.params = params;
    this.names = [...params.keys()];
    for (const [name, p] of params) {
      this.m.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
      this.v.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    }
  }

  /** Whether a parameter decays: matrices and embeddings do, vectors (biases, norms) do not. */
  decays(name: string): boolean {
    return this.params.get(name)!.rank >= 2;
  }

  /**
   * Apply one update from gradients keyed by parameter name (every parameter
   * needs one). `lr` overrides the base learning rate for this step (schedules).
   */
  step(grads: Map<string, tf.Tensor>, lr: number = this.lr): void {
    const slots: AdamWSlot[] = this.names.map((name) => {
      const grad = grads.get(name);
      if (!grad) throw new Error(`AdamW.step: no gradient for parameter '${name}'`);
      return {
        param: this.params.get(name)!,
        grad,
        m: this.m.get(name)!,
        v: this.v.get(name)!,
        weightDecay: this.decays(name) ? this.weightDecay : 0,
      };
    });
    this.stepCount++;
    adamwUpdateAll(slots, { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, step: this.stepCount });
  }

  /** The moment buffers by name (`m.<param>`, `v.<param>`), e.g. to checkpoint them. */
  stateTensors(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const name of this.names) {
      out.set(`m.${name}`, this.m.get(name)!);
      out.set(`v.${name}`, this.v.get(name)!);
    }
    return out;
  }

  /** Restore moment buffers (as from {@link stateTensors}) and the step count. */
  loadState(tensors: Map<string, tf.Tensor>, stepCount: number): void {
    for (const name of this.names) {
      for (const [prefix, store] of [["m", this.m], ["v", this.v]] as const) {
        const t = tensors.get(`${prefix}.${name}`);
        if (!t) throw new Error(`AdamW.loadState: missing '${prefix}.${name}'`);
        const target = store.get(name)!;
        if (t.shape.join(",") !== target.shape.join(",")) {
          throw new Error(`AdamW.loadState: '${prefix}.${name}' has shape [${t.shape}], expected [${target.shape}]`);
        }
        target.assign(t);
      }
    }
    this.stepCount = stepCount;
  }

  /** Free the moment buffers. */
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}
