#!/usr/bin/env python3
"""PyTorch reference for `npm run bench`'s gpt-ref case: the same GPT and the same
training step as llmlab's bench/gpt.ts, timed on the CPU.

Model: vocab 65, context 64, d_model 128, 4 heads, 4 layers, MLP 4x with tanh GELU,
learned positions, LayerNorm, biases, tied embeddings, dropout 0 (nanoGPT's layout).
Step: batch 16 of random windows, forward, cross-entropy, backward, Adam (lr 1e-3).

    /usr/bin/python3 bench/torch_gpt.py --threads 1 --steps 20 --warmup 3 [--json]

With --json it prints one line: {"case": "gpt-ref", "backend": "pytorch", "threads",
"ms_per_step", "tokens_per_s"}.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, n_head, d_ff):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, d_ff)
        self.mlp_proj = nn.Linear(d_ff, d)

    def forward(self, x, mask):
        b, t, d = x.shape
        hd = d // self.n_head
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = [z.view(b, t, self.n_head, hd).transpose(1, 2) for z in (q, k, v)]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        att = att.masked_fill(mask[:, :, :t, :t] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab=65, ctx=64, d=128, n_layer=4, n_head=4, d_ff=512):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d, n_head, d_ff) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        self.register_buffer("mask", torch.tril(torch.ones(ctx, ctx)).view(1, 1, ctx, ctx))
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t))
        for block in self.blocks:
            x = block(x, self.mask)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    ctx, vocab = 64, 65
    model = GPT()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.randint(0, vocab, (100_000,))
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        ix = torch.randint(len(data) - ctx, (args.batch,))
        x = torch.stack([data[i : i + ctx] for i in ix])
        y = torch.stack([data[i + 1 : i + ctx + 1] for i in ix])
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    ms = 1000 * sum(times) / len(times)
    row = {"case": "gpt-ref", "backend": "pytorch", "threads": args.threads, "ms_per_step": round(ms, 2),
           "tokens_per_s": round(args.batch * ctx / (ms / 1000), 1)}
    if args.json:
        print(json.dumps(row))
    else:
        print("pytorch %s, %d thread(s): %.1f ms/step, %.0f tokens/s" % (torch.__version__, args.threads, ms, row["tokens_per_s"]))


if __name__ == "__main__":
    main()
