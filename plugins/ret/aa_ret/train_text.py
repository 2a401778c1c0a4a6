"""Teacher-forcing training of a generative decoder on (memory, target ids) pairs."""
from __future__ import annotations

import math
import time

import torch


def train_on_pairs(decoder, memory: torch.Tensor, targets: torch.Tensor, *, epochs: int, lr: float, batch_size: int,
                   seed: int = 0, weight_decay: float = 0.01, grad_clip: float = 1.0, desc: str | None = None) -> list[float]:
    """AdamW with a cosine schedule over ``epochs`` shuffled passes; returns the mean loss per epoch.

    ``memory [n, …]`` and ``targets [n, T]`` (``bos`` … ``eos``, padded) are indexed together.
    The decoder is left in eval mode. With ``desc``, about eight progress lines are printed.
    """
    gen = torch.Generator().manual_seed(seed)
    decoder.train()
    if any(isinstance(p, torch.nn.parameter.UninitializedParameter) for p in decoder.parameters()):
        with torch.no_grad():
            decoder.memory_tokens(memory[:1])  # materialise a lazily sized conditioning layer
    opt = torch.optim.AdamW(decoder.parameters(), lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * math.ceil(len(targets) / batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    history: list[float] = []
    every, t0 = max(1, epochs // 8), time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(targets), generator=gen)
        total, seen = 0.0, 0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            loss = decoder.loss(memory[idx], targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(decoder.parameters(), grad_clip)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        history.append(total / max(seen, 1))
        if desc and ((epoch + 1) % every == 0 or epoch + 1 == epochs):
            print(f"{desc}: epoch {epoch + 1}/{epochs}, loss {history[-1]:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    decoder.eval()
    return history
