"""One rank of tests/test_ddp.py: train a spec's model on saved embeddings (``python ddp_worker.py SPEC.json EMB.pt OUT.pt``).

Run under torchrun for data-parallel training, or directly for the one-process reference;
rank 0 saves the final weights and the history.
"""
from __future__ import annotations

import json
import sys

import torch


def train(spec_path: str, emb_path: str) -> tuple[dict, dict]:
    from aa_core.run import build_model, validate
    from aa_qa.train import train_model

    spec = validate(json.loads(open(spec_path).read()))
    cfg = spec.sections["train"]
    torch.manual_seed(cfg.seed)
    model, _ = build_model(spec)
    e = torch.load(emb_path)
    result = train_model(model, e["x"], e["y"], e["xv"], e["yv"], e["answers"], cfg, loss=spec.sections["qa_loss"], progress=False)
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, result


if __name__ == "__main__":
    from aa_core.run import is_main

    weights, result = train(sys.argv[1], sys.argv[2])
    if is_main():
        torch.save({"weights": weights, "history": result["history"], "world": int(__import__("os").environ.get("WORLD_SIZE", "1"))},
                   sys.argv[3])
