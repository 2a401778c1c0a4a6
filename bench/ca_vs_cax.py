"""AA beside CAX and plain PyTorch on the Growing-NCA models: training steps/s, measured interleaved.

Three models, each the same in the three frameworks (architecture, data, batch, steps T, seed;
AA's initial weights are copied into the PyTorch model; CAX initialises its own):
- voxel: the 3D voxel-growth model (caterpillar 8×8×27, 20 channels, learned per-channel
  3×3×3 perception ×3, update [64, 64], fire rate 0.5, alive masking, T = 56, batch 5; loss:
  cross-entropy of the block classes + MSE of the alive channel to the occupancy);
- emoji: the Distill model (48×48, 16 channels, identity + Sobel, 48 → 128 → 16, fire rate 0.5,
  alive masking, T = 64, batch 8; loss: MSE of RGBA to the rendered emoji);
- mnist1d: a small 1D NCA classifier written here (a 40-cell line, 16 channels: the signal in
  channel 0, learned 3-tap perception ×3, update [64], T = 20, batch 100, no alive masking;
  logits = the mean over cells of channels 1–10; cross-entropy) on MNIST-1D.
AA runs its own components (``growing_nca`` cell, ``nca`` propagator, ``growth`` pipeline, the
``voxel_growth`` / ``emoji_growth`` datasets with their sample pools); plain PyTorch is the
straightforward version: ``nn.Conv3d``/``nn.Conv2d``/``nn.Conv1d`` with ``groups`` for the
perception, 1×1 convolutions, ``max_pool`` for the alive mask, the same pool logic. CAX (PyPI
``cax``, JAX on CPU) is timed when it is installed (``pip install cax "jax[cpu]"``); its models are
built from its perceive/update modules with the data given to it directly (no download).

Every framework's sample pool starts **grown**: each entry is the target written into the state
(class logits or RGBA, and the alive channel; hidden channels zero), the regime of most of a
training run (a pool of bare seeds would flatter AA, whose cell updates only the cells that can
reach the result: those that fire near an alive cell; ``*_update_fraction`` is that share of
cell-steps in the timed AA steps). The worst sample of each batch is reseeded as in training.

Reported: median seconds per training step of each framework over interleaved rounds, the
ratios, the FLOPs of a step (counted from the shapes: forward + backward = 3 × forward MACs × 2)
against a GEMM peak measured in this run (``*_fraction_of_peak`` counts the dense model's FLOPs, the
issue's definition; ``*_executed_fraction_of_peak`` only those AA ran), and the time to the task's threshold estimated as
steps-to-threshold × seconds per step (the steps from the published logs: voxel 1,319; no
training to threshold is run here). ``--quick``: fewer and shorter rounds.

Compiled columns (voxel and emoji; ``--no-compile`` skips them): plain PyTorch with its forward and loss
under ``torch.compile`` (``torch_compiled``), and AA's training step wrapped as ``train.compile = true``
wraps it (``aa_core.train``: ``torch.compile`` of the step module, the native kernels traced as custom ops,
``aa_compiled``), each a model of its own (same weights and data), timed interleaved with the eager two.
``*_vs_torch_compiled`` = compiled PyTorch ÷ compiled AA (seconds per step, both under torch.compile);
``*_eager_vs_torch_compiled`` = compiled PyTorch ÷ eager AA (AA's default). Compile time is stated
separately, not in the per-step figures: ``*_{aa,torch}_compile_s`` = the first (compiling) step's wall
time minus the median step.

Run: python bench/ca_vs_cax.py [--quick] [--threads N] [--no-compile]. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.run import BuildContext, validate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLISHED_STEPS_TO_THRESHOLD = {"voxel": 1319}  # Sudhakaran et al.'s log: 1 − IoU < 0.01


# ---------------------------------------------------------------------------------------------
# AA
# ---------------------------------------------------------------------------------------------
def aa_growth(spec_name: str, T: int, batch: int, seed: int, compiled: bool = False) -> dict[str, Any]:
    """AA's training step on the spec's task; ``compiled``: wrapped as ``train.compile = true`` wraps it."""
    import tomllib

    from aa_core.train import device as devices
    from aa_core.train import distributed

    with open(os.path.join(REPO, "examples", "ca", spec_name), "rb") as f:
        raw = tomllib.load(f)
    raw["pipeline"]["steps"] = [T, T]
    raw["dataset"]["damage"] = 0
    ctx = BuildContext(validate(raw, source=spec_name))
    torch.manual_seed(seed)
    model, ds, objective = ctx.build("pipeline"), ctx.build("dataset"), ctx.build("objective")
    ds.setup(model, ctx)
    ds.pool.states[:] = grown_state(ds)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    # the engine's training step module (aa_core.train.engine): the objective's loss of the model on a batch
    step_module = devices.compiled(distributed.wrap(model, torch.device("cpu"), objective.training_loss), compiled)

    def step() -> float:
        model.train()
        idx = torch.randperm(len(ds.pool), generator=gen)[:batch]
        b = ds.batch("train", idx)
        loss = step_module(b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ds.after_step(b, model)
        return float(loss.detach())

    return {"model": model, "dataset": ds, "step": step}


def grown_state(ds) -> torch.Tensor:
    """``[N, C]``: the dataset's target written into a state (visible channels and the alive channel)."""
    state = torch.zeros_like(ds.seed)
    K = getattr(ds, "num_classes", 0)
    if K:  # voxel: one-hot class logits, alive = occupancy
        labels = ds.target[:, 0].long()
        state[:, :K] = F.one_hot(labels, K).float()
        state[:, ds.alive_channel] = (labels != 0).float()
    else:  # emoji: RGBA, alpha is the alive channel
        state[:, : ds.target.shape[1]] = ds.target
    return state


def update_fraction(model) -> dict[str, float]:
    """Counts the cells AA's update MLP runs on (wraps the cell's ``lattice_forward_at``)."""
    cell = model.cell
    counts = {"run": 0.0, "all": 0.0}
    inner = cell.lattice_forward_at

    def counted(grid, geometry, where):
        counts["run"] += float(where.sum())
        counts["all"] += where.numel()
        return inner(grid, geometry, where)

    cell.lattice_forward_at = counted
    return counts


def aa_mnist1d(data, T: int, batch: int, seed: int) -> dict[str, Any]:
    raw = {"geometry": {"name": "lattice", "size": [40, 1, 1], "neighbourhood": 26},
           "cell": {"name": "growing_nca", "channels": 16, "perception": "learned", "multiplier": 3, "hidden": [64]},
           "propagator": {"name": "nca"},
           "pipeline": {"name": "growth", "steps": [T, T], "eval_steps": T}}
    torch.manual_seed(seed)
    model = BuildContext(validate(raw, source="<bench mnist1d>")).build("pipeline")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = data
    gen = torch.Generator().manual_seed(seed)

    def step() -> float:
        model.train()
        idx = torch.randint(len(x), (batch,), generator=gen)
        state = torch.zeros(batch, 40, 16)
        state[..., 0] = x[idx]
        out = model.grow(state, T)
        loss = F.cross_entropy(out[..., 1:11].mean(1), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return {"model": model, "step": step}


# ---------------------------------------------------------------------------------------------
# plain PyTorch
# ---------------------------------------------------------------------------------------------
class TorchNCA(nn.Module):
    """Channels-first NCA: grouped-conv perception, 1×1 conv update, max-pool alive mask."""

    def __init__(self, dims: int, C: int, m: int, hidden: list[int], fire: float, alive: int | None, threshold: float,
                 kernel: torch.Tensor, learned: bool):
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
        self.pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[dims]
        self.dims, self.fire, self.alive_ch, self.threshold = dims, fire, alive, threshold
        self.perceive = conv(C, C * m, 3, padding=1, groups=C, bias=False)
        self.perceive.weight.data.copy_(kernel)
        self.perceive.weight.requires_grad_(learned)
        widths = [C * m, *hidden, C]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(conv(a, b, 1))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.update = nn.Sequential(*layers)

    def alive(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x[:, self.alive_ch : self.alive_ch + 1], 3, 1, 1) > self.threshold

    def step(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.alive(x) if self.alive_ch is not None else None
        dx = self.update(self.perceive(x))
        if self.training and self.fire < 1:
            dx = dx * (torch.rand(x.shape[:1] + (1,) + x.shape[2:]) < self.fire).to(x.dtype)
        x = x + dx
        if pre is not None:
            x = x * (pre & self.alive(x)).to(x.dtype)
        return x

    def forward(self, x: torch.Tensor, T: int) -> torch.Tensor:
        for _ in range(T):
            x = self.step(x)
        return x


def torch_copy_of(aa_model, dims: int, fire: float, alive: int | None, threshold: float) -> TorchNCA:
    """The plain-PyTorch model with AA's weights (perception kernel, every update layer)."""
    cell = aa_model.cell
    k = cell.kernel.detach()
    kernel = {3: k, 2: k[..., 1], 1: k[:, :, :, 1, 1]}[dims]
    hidden = [layer.out_features for layer in cell.layers[:-1]]
    t = TorchNCA(dims, cell.channels, cell.multiplier, hidden, fire, alive, threshold, kernel, cell.perception == "learned")
    convs = [m for m in t.update if isinstance(m, nn.modules.conv._ConvNd)]
    for conv, layer in zip(convs, cell.layers):
        conv.weight.data.copy_(layer.weight.detach().view(conv.weight.shape))
        conv.bias.data.copy_(layer.bias.detach())
    return t


def torch_growth(aa: dict[str, Any], dims: int, T: int, batch: int, seed: int, kind: str, compiled: bool = False) -> dict[str, Any]:
    """Plain PyTorch training step on the same data and pool logic as AA's dataset; ``compiled``: the forward
    and the per-sample losses under ``torch.compile`` (the backward compiled with it, the optimizer eager)."""
    ds, prop = aa["dataset"], aa["model"].propagator
    model = torch_copy_of(aa["model"], dims, prop.config.fire_rate, prop.config.alive_channel, prop.config.alive_threshold)
    X, Y, Z = ds.shape
    shape = (X, Y, Z) if dims == 3 else (X, Y)
    C = ds.channels
    pool = ds.pool.states.view(-1, *shape, C).movedim(-1, 1).contiguous()  # the grown pool, channels first
    target = ds.target.view(*shape, -1).movedim(-1, 0).unsqueeze(0)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    seed_state = ds.seed.view(*shape, C).movedim(-1, 0).contiguous()
    K = getattr(ds, "num_classes", 0)

    def losses(out: torch.Tensor) -> torch.Tensor:
        if kind == "voxel":
            labels = target[:, 0].long().expand(len(out), *shape)
            ce = F.cross_entropy(out[:, :K], labels, reduction="none").flatten(1).mean(1)
            al = ((out[:, K] - (labels != 0).float()) ** 2).flatten(1).mean(1)
            return ce + al
        return ((out[:, :4] - target) ** 2).flatten(1).mean(1)

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(x, T)
        return out, losses(out)

    run = torch.compile(forward) if compiled else forward

    def step() -> float:
        model.train()
        idx = torch.randperm(len(pool), generator=gen)[:batch]
        out, per = run(pool[idx])
        loss = per.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            new = out.detach().clone()
            new[per.argmax()] = seed_state
            pool[idx] = new
        return float(loss.detach())

    return {"model": model, "step": step}


def torch_mnist1d(aa: dict[str, Any], data, T: int, batch: int, seed: int) -> dict[str, Any]:
    model = torch_copy_of(aa["model"], 1, 1.0, None, 0.0)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    x, y = data
    gen = torch.Generator().manual_seed(seed)

    def step() -> float:
        model.train()
        idx = torch.randint(len(x), (batch,), generator=gen)
        state = torch.zeros(batch, 16, 40)
        state[:, 0] = x[idx]
        out = model(state, T)
        loss = F.cross_entropy(out[:, 1:11].mean(-1), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return {"model": model, "step": step}


# ---------------------------------------------------------------------------------------------
# CAX (JAX on CPU), when installed
# ---------------------------------------------------------------------------------------------
def cax_available() -> str | None:
    try:
        import cax  # noqa: F401
        import jax  # noqa: F401
        import optax  # noqa: F401
        from flax import nnx  # noqa: F401
    except Exception as e:  # not installed, or a version without the modules used here
        return f"{type(e).__name__}: {e}"
    return None


def cax_model(kind: str, C: int, m: int, hidden: list[int], dims: int, fire: float, alive: int | None,
              threshold: float, kernel, learned: bool, data: dict[str, Any], T: int, batch: int, seed: int):
    """The same NCA built from CAX's ``ConvPerceive`` and ``NCAUpdate`` (``ResidualUpdate`` without
    alive masking) as a CAX ``ComplexSystem``, trained with optax Adam under ``nnx.jit``; the data
    are handed to it directly. CAX keeps the alive channel last, so the state's channels are
    rotated (the classes/RGBA stay where the loss reads them). CAX's cell dropout scales the kept
    updates by 1/(1 − rate) — the same work as a fire mask. Returns a ``step()``."""
    import jax.numpy as jnp
    import numpy as np
    import optax
    from cax.core import ComplexSystem
    from cax.core.perceive import ConvPerceive
    from cax.core.update import NCAUpdate, ResidualUpdate
    from flax import nnx

    ks = (3,) * dims

    class NCA(ComplexSystem):
        def __init__(self, rngs: nnx.Rngs):
            self.perceive = ConvPerceive(channel_size=C, perception_size=C * m, kernel_size=ks, feature_group_count=C, rngs=rngs)
            if alive is not None:
                self.update = NCAUpdate(channel_size=C, perception_size=C * m, hidden_layer_sizes=tuple(hidden), kernel_size=ks,
                                        cell_dropout_rate=1 - fire, alive_threshold=threshold, zeros_init=True, rngs=rngs)
            else:
                self.update = ResidualUpdate(num_spatial_dims=dims, channel_size=C, perception_size=C * m,
                                             hidden_layer_sizes=tuple(hidden), zeros_init=True, rngs=rngs)

        def _step(self, state, input=None, *, sow=False):
            return self.update(state, self.perceive(state), input)

    model = NCA(nnx.Rngs(seed))
    # AA's perception kernel [C·m, 1, *ks] → flax's [*ks, 1, C·m]
    model.perceive.conv.kernel.value = jnp.asarray(np.moveaxis(np.asarray(kernel), (0, 1), (-1, -2)))
    model.train()
    opt = nnx.Optimizer(model, optax.adam(2e-3), wrt=nnx.Param)
    rng = np.random.default_rng(seed)

    if kind == "mnist1d":
        x, y = (np.asarray(t) for t in data["mnist1d"])

        def loss_fn(mdl, state, labels):
            out = mdl(state, num_steps=T)
            logits = out[..., 1:11].mean(1)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), out

        @nnx.jit
        def train(mdl, opt, state, labels):
            (loss, _), grads = nnx.value_and_grad(loss_fn, has_aux=True)(mdl, state, labels)
            opt.update(mdl, grads)
            return loss

        def step() -> float:
            idx = rng.integers(0, len(x), batch)
            state = np.zeros((batch, 40, C), np.float32)
            state[..., 0] = x[idx]
            return float(train(model, opt, jnp.asarray(state), jnp.asarray(y[idx])))

        return step

    shape = tuple(data["shape"]) if dims == 3 else tuple(data["shape"][:2])
    K = data["classes"]
    seed_state = np.roll(data["seed"], C - 1 - alive, axis=-1).reshape(*shape, C)  # channel i → (i + C − 1 − alive) % C
    target = data["target"].reshape(*shape, -1)
    grown = np.roll(data["grown"], C - 1 - alive, axis=-1).reshape(*shape, C)
    pool = np.repeat(grown[None], data["pool"], 0)
    if kind == "voxel":
        labels = jnp.asarray(target[..., 0].astype(np.int32))
        occ = (labels != 0).astype(jnp.float32)
        cls = [(i + C - 1 - alive) % C for i in range(K)]  # where the class channels went

        def per_sample(out):
            logits = out[..., jnp.asarray(cls)]
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels[None]).reshape(len(out), -1).mean(1)
            return ce + ((out[..., -1] - occ[None]) ** 2).reshape(len(out), -1).mean(1)
    else:
        tgt = jnp.asarray(target)
        rgba = [(i + C - 1 - alive) % C for i in range(4)]

        def per_sample(out):
            return ((out[..., jnp.asarray(rgba)] - tgt[None]) ** 2).reshape(len(out), -1).mean(1)

    def loss_fn(mdl, state):
        out = mdl(state, num_steps=T)
        per = per_sample(out)
        return per.mean(), (out, per)

    @nnx.jit
    def train(mdl, opt, state):
        (loss, (out, per)), grads = nnx.value_and_grad(loss_fn, has_aux=True)(mdl, state)
        opt.update(mdl, grads)
        return loss, out, per

    def step() -> float:
        idx = rng.permutation(len(pool))[:batch]
        loss, out, per = train(model, opt, jnp.asarray(pool[idx]))
        new = np.array(out)
        new[int(np.argmax(np.asarray(per)))] = seed_state
        pool[idx] = new
        return float(loss)

    return step


# ---------------------------------------------------------------------------------------------
def gemm_peak(threads: int, n: int = 1024, reps: int = 5) -> float:
    """Measured fp32 GEMM GFLOP/s (median of ``reps``) with the bench's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def step_flops(C: int, m: int, hidden: list[int], taps: int, cells: int, batch: int, T: int) -> float:
    widths = [C * m, *hidden, C]
    macs = taps * C * m + sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return 3 * 2 * macs * cells * batch * T


def agreement(name: str, s: dict[str, Any], T: int = 8) -> float:
    """Max |AA − PyTorch| after ``T`` deterministic steps from a random-weight state (weights perturbed
    so that the zero-initialised last layer does not make the comparison trivial)."""
    aa_model, tm = s["aa"]["model"], s["torch"]["model"]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in aa_model.cell.layers[-1].parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        for conv, layer in zip([m for m in tm.update if isinstance(m, nn.modules.conv._ConvNd)], aa_model.cell.layers):
            conv.weight.copy_(layer.weight.view(conv.weight.shape))
            conv.bias.copy_(layer.bias)
        geo = aa_model.geometry
        C = aa_model.cell.channels
        x = torch.rand(2, geo.num_cells, C, generator=g)
        aa_model.eval()
        tm.eval()
        a = aa_model.grow(x, T)
        spatial = [n for n in geo.size if not (len([d for d in geo.size if d > 1]) < 3 and n == 1)]
        xt = x.view(2, *spatial, C).movedim(-1, 1)
        b = tm(xt, T).movedim(1, -1).reshape(2, -1, C)
        diff = float((a - b).abs().max())
        for p in aa_model.cell.layers[-1].parameters():  # back to the zero start
            p.zero_()
        for m in tm.update[-1:]:
            m.weight.zero_()
            m.bias.zero_()
    return diff


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--models", default="voxel,emoji,mnist1d")
    ap.add_argument("--no-cax", action="store_true")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile columns (compiling takes minutes)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rounds = a.rounds or (2 if a.quick else 4)
    seed = 0
    cax_why = "skipped (--no-cax)" if a.no_cax else cax_available()
    result: dict[str, Any] = {"threads": a.threads, "rounds": rounds, "quick": a.quick,
                              "cax": "timed" if cax_why is None else f"not timed ({cax_why})"}
    peak = gemm_peak(a.threads)
    result["gemm_peak_gflops"] = round(peak, 1)
    print(f"threads {a.threads}; measured fp32 GEMM peak {peak:.1f} GFLOP/s; CAX: {result['cax']}", flush=True)

    setups: dict[str, dict[str, Any]] = {}
    models = a.models.split(",")
    if "voxel" in models:
        T, B = (24, 5) if a.quick else (56, 5)
        aa = aa_growth("voxel_growth.toml", T, B, seed)
        setups["voxel"] = {"T": T, "batch": B, "aa": aa, "torch": torch_growth(aa, 3, T, B, seed, "voxel"),
                           "flops": step_flops(20, 3, [64, 64], 27, 8 * 8 * 27, B, T)}
        if not a.no_compile:
            aac = aa_growth("voxel_growth.toml", T, B, seed, compiled=True)
            setups["voxel"].update(aa_compiled=aac, torch_compiled=torch_growth(aac, 3, T, B, seed, "voxel", compiled=True))
    if "emoji" in models:
        T, B = (24, 8) if a.quick else (64, 8)
        aa = aa_growth("emoji_growth.toml", T, B, seed)
        setups["emoji"] = {"T": T, "batch": B, "aa": aa, "torch": torch_growth(aa, 2, T, B, seed, "emoji"),
                           "flops": step_flops(16, 3, [128], 9, 48 * 48, B, T)}
        if not a.no_compile:
            aac = aa_growth("emoji_growth.toml", T, B, seed, compiled=True)
            setups["emoji"].update(aa_compiled=aac, torch_compiled=torch_growth(aac, 2, T, B, seed, "emoji", compiled=True))
    if "mnist1d" in models:
        from mnist1d.data import get_dataset_args, make_dataset

        d = make_dataset(get_dataset_args())
        data = (torch.tensor(d["x"], dtype=torch.float32), torch.tensor(d["y"], dtype=torch.long))
        T, B = 20, 100
        aa = aa_mnist1d(data, T, B, seed)
        setups["mnist1d"] = {"T": T, "batch": B, "aa": aa, "torch": torch_mnist1d(aa, data, T, B, seed), "data": data,
                             "flops": step_flops(16, 3, [64], 3, 40, B, T)}
    if cax_why is None:
        for name, s in setups.items():
            try:
                s["cax"] = {"step": cax_step_for(name, s, seed)}
            except Exception as e:  # a CAX/JAX version mismatch must not lose the other figures
                result[f"{name}_cax_error"] = f"{type(e).__name__}: {e}"[:300]

    for name, s in setups.items():  # the same model: AA and the PyTorch copy agree step by step (eval: every cell fires)
        result[f"{name}_aa_torch_max_diff"] = agreement(name, s)
    for name, s in setups.items():
        frameworks = [f for f in ("aa", "torch", "cax", "aa_compiled", "torch_compiled") if f in s]
        first: dict[str, float] = {}
        for f in frameworks:  # warm-up (JIT compile, torch.compile, oneDNN primitive caches)
            first[f] = timed(s[f]["step"])
            if f.endswith("_compiled"):
                s[f]["step"]()  # a second step: anything left to compile (the backward's first use, a recompile)
        counts = update_fraction(s["aa"]["model"]) if hasattr(s["aa"]["model"].cell, "lattice_forward_at") else None
        times: dict[str, list[float]] = {f: [] for f in frameworks}
        per_round = 1 if name != "mnist1d" else 5
        for _ in range(rounds):
            for f in frameworks:  # interleaved: one framework after the other, round after round
                for _ in range(per_round):
                    times[f].append(timed(s[f]["step"]))
        med = {f: statistics.median(v) for f, v in times.items()}
        for f, v in med.items():
            result[f"{name}_{f}_s_per_step"] = round(v, 4)
        result[f"{name}_vs_torch"] = round(med["torch"] / med["aa"], 3)
        if "cax" in med:
            result[f"{name}_step_ratio"] = round(med["cax"] / med["aa"], 3)
        if "torch_compiled" in med:
            result[f"{name}_vs_torch_compiled"] = round(med["torch_compiled"] / med["aa_compiled"], 3)
            result[f"{name}_eager_vs_torch_compiled"] = round(med["torch_compiled"] / med["aa"], 3)
            for f in ("aa", "torch"):  # compile time apart: the first (compiling) step less a timed one
                result[f"{name}_{f}_compile_s"] = round(first[f"{f}_compiled"] - med[f"{f}_compiled"], 2)
        if counts is not None and counts["all"]:
            share = counts["run"] / counts["all"]
            result[f"{name}_update_fraction"] = round(share, 3)
            # the arithmetic AA actually ran (perception and update MLP at those cells only)
            result[f"{name}_executed_fraction_of_peak"] = round(share * s["flops"] / med["aa"] / (peak * 1e9), 4)
        result[f"{name}_T"], result[f"{name}_batch"] = s["T"], s["batch"]
        result[f"{name}_flop_per_step"] = s["flops"]
        result[f"{name}_fraction_of_peak"] = round(s["flops"] / med["aa"] / (peak * 1e9), 4)
        if f"{name}_executed_fraction_of_peak" not in result:  # no masked update (MNIST-1D: every cell, every step)
            result[f"{name}_executed_fraction_of_peak"] = result[f"{name}_fraction_of_peak"]
        if name in PUBLISHED_STEPS_TO_THRESHOLD and not a.quick:
            n = PUBLISHED_STEPS_TO_THRESHOLD[name]
            for f, v in med.items():
                result[f"{name}_{f}_est_s_to_threshold"] = round(n * v, 1)
        print(f"{name}: " + ", ".join(f"{f} {v:.3f} s/step" for f, v in med.items())
              + f"; AA/torch speed {result[f'{name}_vs_torch']}×"
              + (f", compiled {result[f'{name}_vs_torch_compiled']}× (compile: AA {result[f'{name}_aa_compile_s']} s, "
                 f"torch {result[f'{name}_torch_compile_s']} s)" if "torch_compiled" in med else ""), flush=True)
    if "voxel" in setups:
        result["voxel_aa_s_per_step"] = result["voxel_aa_s_per_step"]
    result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


def cax_step_for(name: str, s: dict[str, Any], seed: int):
    aa = s["aa"]
    cell = aa["model"].cell
    prop = aa["model"].propagator
    k = cell.kernel.detach().numpy()
    if name == "mnist1d":
        return cax_model(name, 16, 3, [64], 1, 1.0, None, 0.0, k[:, :, :, 1, 1], True, {"mnist1d": s["data"]}, s["T"], s["batch"], seed)
    ds = aa["dataset"]
    dims = 3 if name == "voxel" else 2
    kernel = k if dims == 3 else k[..., 1]
    hidden = [layer.out_features for layer in cell.layers[:-1]]
    return cax_model(name, cell.channels, cell.multiplier, hidden, dims, prop.config.fire_rate, prop.config.alive_channel,
                     prop.config.alive_threshold, kernel, cell.perception == "learned",
                     {"seed": ds.seed.numpy(), "grown": ds.pool.states[0].numpy(), "target": ds.target.numpy(), "shape": ds.shape, "pool": len(ds.pool),
                      "classes": getattr(ds, "num_classes", 0)}, s["T"], s["batch"], seed)


if __name__ == "__main__":
    main()
