#!/usr/bin/env python3
"""PyTorch side of `npm run bench`'s matmul case: GFLOP/s of torch.matmul on the
CPU for the matrix products of the reference GPT's training step (shapes given
as JSON on the command line, the same list bench/matmul.ts measures).

    /usr/bin/python3 bench/torch_matmul.py --threads 1 --shapes '[{"name": "...", "a": [1024, 128], "b": [128, 384], "ta": false, "tb": false}]'

Prints one JSON line per shape: {"name", "gflops"}.
"""
import argparse
import json
import time

import torch


def flops(a, b, ta, tb):
    m = a[-1] if ta else a[-2]
    k = a[-2] if ta else a[-1]
    n = b[-2] if tb else b[-1]
    batch = 1
    for d in (a[:-2] if len(a) >= len(b) else b[:-2]):
        batch *= d
    return 2.0 * batch * m * n * k


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shapes", required=True)
    ap.add_argument("--seconds", type=float, default=0.3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for s in json.loads(args.shapes):
        a = torch.randn(*s["a"])
        b = torch.randn(*s["b"])
        op_a = a.transpose(-2, -1) if s["ta"] else a
        op_b = b.transpose(-2, -1) if s["tb"] else b
        for _ in range(3):
            torch.matmul(op_a, op_b)
        reps, start = 0, time.perf_counter()
        while True:
            torch.matmul(op_a, op_b)
            reps += 1
            elapsed = time.perf_counter() - start
            if elapsed > args.seconds and reps >= 5:
                break
        print(json.dumps({"name": s["name"], "gflops": round(flops(s["a"], s["b"], s["ta"], s["tb"]) * reps / elapsed / 1e9, 2)}))


if __name__ == "__main__":
    main()
