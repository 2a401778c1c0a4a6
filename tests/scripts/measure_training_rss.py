"""Peak RSS of one training step of a lattice model vs. aa_core's estimate (run in a fresh process).

Usage: python measure_training_rss.py SIDE C H T B [checkpointing]
Prints one JSON line: measured and estimated bytes.
"""
import json
import sys

import torch

from aa_core.assemble import build_model, training_bytes
from aa_core.spec import validate

side, C, H, T, B = map(int, sys.argv[1:6])
ckpt = len(sys.argv) > 6 and sys.argv[6] == "checkpointing"
torch.set_num_threads(1)
raw = {"geometry": {"size": [side, side, side]}, "cell": {"name": "mlp", "channels": C, "hidden": H}, "propagator": {"steps": T, "gradient_checkpointing": ckpt},
       "pipeline": {"name": "direct_embedding", "embedding_dim": 64}, "adapter": {"name": "linear"}}
spec = validate(raw)
model, ctx = build_model(spec)
x = torch.randn(B, 64)
def status(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM), so earlier peaks (imports) do not hide this one."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


opt = torch.optim.AdamW(model.parameters())
reset_peak()
base = status("VmRSS")
loss = model(x).square().mean()
loss.backward()
opt.step()
peak = status("VmHWM") - base
est = training_bytes(model, ctx, B)
print(json.dumps({"measured": peak, "estimate": est}))
