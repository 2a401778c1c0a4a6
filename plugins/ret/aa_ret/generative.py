"""The ``generative`` decoder: an autoregressive transformer that writes text from vectors.

Built on the RET recipe (reduced width, fewer heads, one set of layer weights applied
``layers`` times, every projection an ``nn.Linear`` so that :mod:`aa_ret.reduce` prunes and
int8-quantizes it for inference). Pre-LN layers: causal self-attention, cross-attention to
the memory, GELU MLP, ``F.scaled_dot_product_attention`` throughout; token embedding and
output projection tied.

Memory: ``[B, M, D_mem]`` vectors, each projected to ``prefix_tokens`` memory tokens (plus
learned memory positions). The ``text_to_text`` pipeline passes the lattice's output-face cell
states (M = face cells); as a :class:`~aa_core.protocols.Decoder` it decodes embeddings
``[B, D]`` (M = 1) and ``fit`` pre-trains it to reconstruct texts from their own embeddings.

Training is teacher forcing (cross-entropy on the next token); decoding is greedy, beam or
nucleus with a KV cache (self-attention keys/values appended per step, cross-attention
keys/values computed once), stopping at ``eos`` or ``max_new_tokens``.
"""
from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .config import GenerativeConfig

Cache = list[tuple[torch.Tensor, torch.Tensor]]


class DecoderLayer(nn.Module):
    """Pre-LN: causal self-attention (optionally cached), cross-attention to memory, MLP."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.ln1, self.q, self.kv, self.proj = nn.LayerNorm(dim), nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.ln2, self.cq, self.ckv, self.cproj = nn.LayerNorm(dim), nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.ln3, self.fc1, self.fc2 = nn.LayerNorm(dim), nn.Linear(dim, mlp_hidden), nn.Linear(mlp_hidden, dim)
        self.drop = nn.Dropout(dropout)

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = rearrange(self.ckv(memory), "b m (two h e) -> two b h m e", two=2, h=self.heads)
        return k, v

    def forward(self, x: torch.Tensor, mem: tuple[torch.Tensor, torch.Tensor], past: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x [B, T, d]`` new tokens; ``past`` cached self-attention (k, v) ``[B, h, P, e]`` of earlier tokens."""
        h = self.ln1(x)
        q = rearrange(self.q(h), "b t (h e) -> b h t e", h=self.heads)
        k, v = rearrange(self.kv(h), "b t (two h e) -> two b h t e", two=2, h=self.heads)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        T, S = q.shape[2], k.shape[2]
        mask = None
        if T > 1:  # token t sees keys 0 .. (S - T + t)
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.drop(self.proj(rearrange(a, "b h t e -> b t (h e)")))
        cq = rearrange(self.cq(self.ln2(x)), "b t (h e) -> b h t e", h=self.heads)
        c = F.scaled_dot_product_attention(cq, mem[0], mem[1])
        x = x + self.drop(self.cproj(rearrange(c, "b h t e -> b t (h e)")))
        x = x + self.drop(self.fc2(F.gelu(self.fc1(self.ln3(x)))))
        return x, (k, v)


class GenerativeDecoder(nn.Module):
    """Vectors → text. ``loss(memory, targets)`` for training, ``generate(memory)`` for ids, ``decode([B, D])`` for texts."""

    def __init__(self, config: GenerativeConfig, subword: Any, memory_dim: int | None, memory_len: int = 1, prefix_tokens: int | None = None):
        super().__init__()
        d = config.dim
        self.config = config
        self.subword = subword
        self.vocab_size = subword.vocab_size
        self.pad_id, self.bos_id, self.eos_id = subword.pad_id, subword.bos_id, subword.eos_id
        self.depth = config.layers
        self.prefix = prefix_tokens or config.prefix_tokens
        self.memory_len = memory_len
        self.embed = nn.Embedding(self.vocab_size, d)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.pos = nn.Parameter(torch.randn(config.max_positions, d) * 0.02)
        self.cond = nn.Linear(memory_dim, self.prefix * d) if memory_dim else nn.LazyLinear(self.prefix * d)
        self.mem_pos = nn.Parameter(torch.randn(memory_len * self.prefix, d) * 0.02)
        self.mem_norm = nn.LayerNorm(d)
        stored = 1 if config.share_layers else config.layers
        self.layers = nn.ModuleList(DecoderLayer(d, config.heads, config.mlp_hidden, config.dropout) for _ in range(stored))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, self.vocab_size)
        self.out.weight = self.embed.weight  # tied
        nn.init.zeros_(self.out.bias)
        self.owned = False  # True when a pipeline holds this decoder (its weights are then in the model's state)

    # -- the network ----------------------------------------------------------------------

    def memory_tokens(self, memory: torch.Tensor) -> torch.Tensor:
        """``[B, M, D_mem]`` (or ``[B, D_mem]``: M = 1) → memory tokens ``[B, M·prefix, d]``."""
        if memory.dim() == 2:
            memory = memory[:, None, :]
        B, M, _ = memory.shape
        tokens = self.cond(memory).view(B, M * self.prefix, -1)
        return self.mem_norm(tokens + self.mem_pos[: M * self.prefix])

    def _memory_kv(self, memory: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        mem = self.memory_tokens(memory)
        per_layer = [cast(DecoderLayer, layer).memory_kv(mem) for layer in self.layers]
        return [per_layer[i % len(self.layers)] for i in range(self.depth)]

    def _run(self, ids: torch.Tensor, start: int, mem_kv, cache: Cache | None) -> tuple[torch.Tensor, Cache]:
        x = self.embed(ids) + self.pos[start : start + ids.shape[1]]
        new: Cache = []
        for i in range(self.depth):
            x, kv = self.layers[i % len(self.layers)](x, mem_kv[i], cache[i] if cache is not None else None)
            new.append(kv)
        return self.out(self.norm(x)), new

    def logits(self, memory: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: next-token logits ``[B, T, V]`` for every prefix of ``ids [B, T]`` (no cache)."""
        return self._run(ids, 0, self._memory_kv(memory), None)[0]

    def loss(self, memory: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``targets [B, T]`` (``bos`` … ``eos``, ``pad`` after) given the memory."""
        targets = targets[:, : self.config.max_positions + 1]
        logits = self.logits(memory, targets[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[:, 1:].reshape(-1), ignore_index=self.pad_id,
                               label_smoothing=self.config.label_smoothing)

    # -- decoding -------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, memory: torch.Tensor, strategy: str | None = None, max_new_tokens: int | None = None,
                 beam_size: int | None = None, top_p: float | None = None, temperature: float | None = None,
                 seed: int | None = None, use_cache: bool = True) -> torch.Tensor:
        """Ids ``[B, T]`` (without ``bos``; ``eos`` then ``pad`` after the end), T ≤ ``max_new_tokens``."""
        c = self.config
        strategy = strategy or c.strategy
        limit = min(max_new_tokens or c.max_new_tokens, c.max_positions - 1)
        if strategy == "beam" and (beam_size or c.beam_size) > 1:
            return self._beam(memory, limit, beam_size or c.beam_size, c.length_penalty)
        gen = torch.Generator().manual_seed(c.seed if seed is None else seed) if strategy == "nucleus" else None
        B = memory.shape[0]
        mem_kv = self._memory_kv(memory)
        seq = torch.full((B, 1), self.bos_id, dtype=torch.long, device=memory.device)
        done = torch.zeros(B, dtype=torch.bool, device=memory.device)
        cache: Cache | None = None
        for t in range(limit):
            if use_cache:
                logits, cache = self._run(seq[:, -1:], t, mem_kv, cache)
            else:
                logits, _ = self._run(seq, 0, mem_kv, None)
            step = logits[:, -1].float()
            if strategy == "nucleus":
                nxt = _nucleus(step, top_p or c.top_p, temperature or c.temperature, gen)
            else:
                nxt = step.argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, self.pad_id), nxt)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            done |= nxt == self.eos_id
            if bool(done.all()):
                break
        return seq[:, 1:]

    def _beam(self, memory: torch.Tensor, limit: int, K: int, alpha: float) -> torch.Tensor:
        B, V = memory.shape[0], self.vocab_size
        mem_kv = [(k.repeat_interleave(K, 0), v.repeat_interleave(K, 0)) for k, v in self._memory_kv(memory)]
        seq = torch.full((B * K, 1), self.bos_id, dtype=torch.long, device=memory.device)
        scores = torch.full((B, K), float("-inf"), device=memory.device)
        scores[:, 0] = 0.0  # only one live beam at the start
        lengths = torch.zeros(B * K, device=memory.device)
        done = torch.zeros(B * K, dtype=torch.bool, device=memory.device)
        cache: Cache | None = None
        for t in range(limit):
            logits, cache = self._run(seq[:, -1:], t, mem_kv, cache)
            logp = logits[:, -1].float().log_softmax(-1)  # [B·K, V]
            stay = torch.full_like(logp, float("-inf"))
            stay[:, self.pad_id] = 0.0  # a finished beam only continues with pad, at no cost
            logp = torch.where(done[:, None], stay, logp)
            cand = (scores.view(B * K, 1) + logp).view(B, K * V)
            scores, flat = cand.topk(K, dim=1)  # [B, K]
            beam = flat // V + torch.arange(B, device=memory.device)[:, None] * K
            beam, tok = beam.flatten(), (flat % V).flatten()
            seq = torch.cat([seq[beam], tok[:, None]], dim=1)
            was_done = done[beam]
            lengths = lengths[beam] + (~was_done).float()
            done = was_done | (tok == self.eos_id)
            cache = [(k[beam], v[beam]) for k, v in cache]
            if bool(done.all()):
                break
        norm = scores / lengths.view(B, K).clamp(min=1.0) ** alpha
        best = norm.argmax(1) + torch.arange(B, device=memory.device) * K
        return seq[best, 1:]

    # -- the Decoder contract (embedding → text) ----------------------------------------------

    def to_texts(self, ids: torch.Tensor) -> list[str]:
        return self.subword.decode(ids)

    @torch.no_grad()
    def decode(self, outputs: torch.Tensor, batch_size: int = 64, **kw: Any) -> list[str]:
        """Embeddings ``[B, D]`` → generated texts (the configured strategy)."""
        was = self.training
        self.eval()
        try:
            out: list[str] = []
            for i in range(0, len(outputs), batch_size):
                out += self.to_texts(self.generate(outputs[i : i + batch_size].float(), **kw))
            return out
        finally:
            self.train(was)

    def fit(self, texts: list[str], embeddings: torch.Tensor) -> GenerativeDecoder:
        """Pre-train on (embedding → its text) pairs: sizes the conditioning to the embeddings' width,
        fits the subword tokenizer if needed, then
        ``fit_epochs`` epochs of teacher forcing (AdamW, cosine schedule, seeded)."""
        from .train_text import train_on_pairs

        width = embeddings.shape[-1]
        if getattr(self.cond, "in_features", width) != width:  # fitting learns from scratch, at the embeddings' width
            self.cond = nn.Linear(width, self.cond.out_features)
        if not self.subword.fitted:
            self.subword.fit(list(texts))
        targets = self.subword.encode(list(texts), max_length=self.config.max_new_tokens + 2, bos=True, eos=True)
        train_on_pairs(self, embeddings.float(), targets, epochs=self.config.fit_epochs, lr=self.config.fit_lr,
                       batch_size=self.config.fit_batch_size, seed=self.config.seed,
                       desc=f"decoder pre-training on {len(texts)} texts")
        return self

    def train_pairs(self, memory: torch.Tensor, targets: torch.Tensor, *, epochs: int, lr: float, batch_size: int, seed: int = 0,
                    desc: str | None = None) -> list[float]:
        """Teacher forcing on (memory, target ids) pairs (:func:`aa_ret.train_text.train_on_pairs`)."""
        from .train_text import train_on_pairs

        return train_on_pairs(self, memory, targets, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, desc=desc)

    def to_extra(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        if self.owned:
            return {}, {}
        state = {k: v for k, v in self.state_dict().items() if k != "out.weight"}  # tied to embed.weight
        return {"weights": True}, state

    def load_extra(self, extra_json: dict[str, Any], tensors: dict[str, torch.Tensor]) -> GenerativeDecoder:
        if extra_json.get("weights"):
            if getattr(self.cond, "in_features", None) != tensors["cond.weight"].shape[1]:
                self.cond = nn.Linear(tensors["cond.weight"].shape[1], self.cond.out_features)
            missing, unexpected = self.load_state_dict(tensors, strict=False)
            if unexpected or [k for k in missing if k != "out.weight"]:
                raise ValueError(f"generative decoder state does not fit: missing {missing}, unexpected {unexpected}")
            self.out.weight = self.embed.weight
        self.eval()
        return self


def _nucleus(logits: torch.Tensor, top_p: float, temperature: float, gen: torch.Generator | None) -> torch.Tensor:
    """Sample from the smallest set of tokens whose probability reaches ``top_p`` (Holtzman et al. 2020)."""
    probs = (logits / temperature).softmax(-1)
    sorted_p, order = probs.sort(dim=-1, descending=True)
    keep = sorted_p.cumsum(-1) - sorted_p < top_p  # always keeps the most likely token
    sorted_p = sorted_p * keep
    pick = torch.multinomial(sorted_p / sorted_p.sum(-1, keepdim=True), 1, generator=gen)
    return order.gather(-1, pick).squeeze(-1)


def param_count(config: GenerativeConfig, vocab: int, memory_dim: int, memory_len: int = 1, prefix: int | None = None) -> int:
    """Exact parameter count (tied output projection counted once)."""
    d, m, P = config.dim, config.mlp_hidden, prefix or config.prefix_tokens
    layer = 3 * 2 * d + 2 * (d * d + d + 2 * d * d + 2 * d + d * d + d) + d * m + m + m * d + d
    stored = 1 if config.share_layers else config.layers
    return vocab * d + config.max_positions * d + memory_dim * P * d + P * d + memory_len * P * d + 2 * d + stored * layer + 2 * d + vocab


def build(config: GenerativeConfig, ctx, memory_dim: int | None = None, memory_len: int = 1, prefix_tokens: int | None = None) -> GenerativeDecoder:
    sub = ctx.build("subword", default="bpe")
    if memory_dim is None:
        memory_dim = config.embedding_dim or (ctx.embedding_dim if ctx.has("tokenizer") else None)
    return GenerativeDecoder(config, sub, memory_dim, memory_len, prefix_tokens)


__all__ = ["DecoderLayer", "GenerativeDecoder", "build", "param_count"]
