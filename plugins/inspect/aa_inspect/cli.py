"""`aa inspect --checkpoint DIR (--index N [--split S] | TEXT)`: what happens inside the lattice, as a picture.

The input is example N of the checkpoint's dataset (the spec's ``dataset`` component, rebuilt from
the checkpoint's spec) or, when the pipeline has a ``[tokenizer]``, a free text (the Q→A case). Any
write → propagate → read pipeline (:class:`aa_core.protocols.LatticePipeline`) can be pictured. Two
lines are printed before the picture: the input and the prediction, as the dataset describes them
(:class:`aa_core.protocols.DescribedDataset`, e.g. ``Q: …`` / ``A: …``, or the predicted class), else
the split and index and a summary of the output tensor.

For a dataset that shows its examples as pictures (:class:`aa_core.protocols.PicturedDataset`), beside
``--out`` (``FILE.png``): ``FILE_examples.png`` (input, target and prediction side by side, for
``--examples`` examples from ``--index``), for lattice pipelines ``FILE_steps.png`` and
``FILE_steps.gif`` (the prediction after each step: the state over time; grown, damaged and regrown
for a :class:`aa_core.protocols.DamagedDataset`), and for 3D class grids ``FILE_voxels.png``. A pipeline
that is no lattice pipeline gets the examples picture only.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

SPLITS = {"test": "test", "val": "validation", "validation": "validation", "train": "train"}  # --split → the dataset's split
SPLITS_SHORT = {"validation": "val"}


def add_parser(sub):
    p = sub.add_parser("inspect", help="picture of the lattice's states for one input: a dataset example (--index N) or a text "
                                       "(slices per step, light cone, output face)")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint or run directory")
    p.add_argument("text", nargs="?", default=None, metavar="TEXT",
                   help="a text to write onto the lattice (pipelines with a [tokenizer], e.g. a question)")
    p.add_argument("--index", type=int, default=None, metavar="N", help="picture example N of the checkpoint's dataset instead")
    p.add_argument("--split", default="test", choices=sorted(SPLITS), help="the dataset split of --index (default test)")
    p.add_argument("--out", default="inspect.png", metavar="FILE.png", help="the picture (default inspect.png)")
    p.add_argument("--animate", default=None, metavar="FILE.gif", help="also write an animation, one frame per step")
    p.add_argument("--frames", type=int, default=8, help="steps shown in the picture (evenly spaced, first and last included)")
    p.add_argument("--examples", type=int, default=4, metavar="K",
                   help="examples from --index in the side-by-side picture of a dataset that pictures them (default 4)")
    return p


def sibling(out: str, suffix: str) -> Path:
    """``FILE.png`` → ``FILE_<suffix>`` (the other pictures are written beside --out)."""
    path = Path(out)
    return path.with_name(f"{path.stem}_{suffix}")


def build_dataset(ctx: Any, checkpoint: Any, needed: bool) -> Any:
    """The checkpoint spec's dataset (None when it has none and none is ``needed``)."""
    from aa_core.plugin import UserError

    if "dataset" not in ctx.spec.components:
        if needed:
            raise UserError(f"--index: checkpoint {checkpoint.path} names no dataset (its spec has no [dataset] table), so it has "
                            "no examples to pick from; give a text instead, or inspect a checkpoint trained on a dataset")
        return None
    try:
        return ctx.build("dataset")
    except UserError as exc:
        if needed:
            raise UserError(f"--index: the dataset of checkpoint {checkpoint.path} cannot be rebuilt from its spec: {exc}") from None
        print(f"aa: warning: the dataset of checkpoint {checkpoint.path} cannot be rebuilt ({exc}); "
              "the prediction is summarised instead of described", file=sys.stderr)
        return None


def example_input(dataset: Any, index: int, split: str, checkpoint: Any) -> tuple[Any, str, dict]:
    """(inputs of example ``index`` of ``split``, first dimension 1; the line naming it; its whole batch)."""
    import torch

    from aa_core.plugin import UserError
    from aa_core.protocols import DescribedDataset

    sizes = dataset.sizes()
    n = int(sizes.get(split, 0))
    if n == 0:
        others = ", ".join(f"{SPLITS_SHORT.get(k, k)} ({v})" for k, v in sizes.items() if v)
        raise UserError(f"--index {index}: the {split} split of checkpoint {checkpoint.path}'s dataset is empty; "
                        f"choose another --split ({others or 'every split is empty'})")
    if not 0 <= index < n:
        raise UserError(f"--index {index} is out of range: the {split} split of checkpoint {checkpoint.path}'s dataset has "
                        f"{n} examples; give --index from 0 to {n - 1} (or another --split)")
    batch = dataset.batch(split, torch.tensor([index]))
    x = batch.get("inputs") if isinstance(batch, dict) else None
    if not isinstance(x, torch.Tensor):
        raise UserError(f"the dataset of checkpoint {checkpoint.path} ({type(dataset).__name__}) gives no 'inputs' tensor in its "
                        "batches, so there is nothing to write onto the lattice")
    line = dataset.describe(index, split) if isinstance(dataset, DescribedDataset) else f"{split} example {index} of {n}"
    return x, line, batch


def summary(output: Any) -> str:
    """One line for an output the dataset does not describe: its shape, range and largest entry."""
    import torch

    if not isinstance(output, torch.Tensor):
        return f"output: a {type(output).__name__}"
    o = output.detach().float()
    if o.numel() == 0:
        return f"output: shape {list(o.shape)} (empty)"
    line = f"output: shape {list(o.shape)}, min {float(o.min()):.4g}, mean {float(o.mean()):.4g}, max {float(o.max()):.4g}"
    if o.dim() == 2 and o.shape[0] == 1:
        line += f", largest at index {int(o[0].argmax())}"
    return line


def check_writable(option: str, path: str | None) -> None:
    """Refuse (exit 2, before any work) an output file whose folder does not exist or that names a folder:
    a mistyped path is not created silently."""
    from aa_core.plugin import UserError

    if path is None:
        return
    folder = Path(path).parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UserError(f"{option} {path}: the folder {folder} {what}; create it first (mkdir -p {folder}) or give a path in an existing folder")
    if Path(path).is_dir():
        raise UserError(f"{option} {path}: is a folder; give a file name (e.g. {Path(path) / 'inspect.png'})")


def main(args) -> int:
    from aa_core.plugin import UserError, argument_text
    from aa_core.protocols import DescribedDataset, PicturedDataset
    from aa_core.run import load_verified, restore

    from .lattice_view import animation, check_size, not_lattice_pipeline, picture, trace

    # a title may hold a character the font lacks (an emoji target): drawn as a box, not worth a warning
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
    if not args.out.lower().endswith(".png"):
        raise UserError(f"--out {args.out}: the picture is a PNG; give a file name ending in .png")
    for option, path in (("--out", args.out), ("--animate", args.animate)):
        check_writable(option, path)
    if (args.text is None) == (args.index is None):
        raise UserError("give what to picture: --index N (example N of the checkpoint's dataset, --split test|val|train) "
                        'or a text (e.g. a question: aa inspect --checkpoint DIR "your question"), not both')
    text = argument_text(args.text, "the question argument") if args.text is not None else None  # not UTF-8: exit 2 before any work
    if args.index is not None and args.index < 0:
        raise UserError(f"--index {args.index}: give an example number from 0 up")
    if args.examples < 1:
        raise UserError(f"--examples {args.examples}: give how many examples to picture side by side, from 1 up")
    r = restore(load_verified(args.checkpoint))
    model, ctx, ckpt = r.model, r.ctx, r.checkpoint
    why = not_lattice_pipeline(model)
    dataset = build_dataset(ctx, ckpt, needed=text is None) if why else None
    if why and (text is not None or not isinstance(dataset, PicturedDataset)):
        raise UserError(f"checkpoint {ckpt.path}: aa inspect pictures write → propagate → read pipelines "
                        f"(aa_core.protocols.LatticePipeline), or the examples of a dataset that pictures them "
                        f"(aa_core.protocols.PicturedDataset); its {type(model).__name__} is not one: {why}")
    if why:
        return examples_only(model, dataset, args, ckpt)
    check_size(model)
    dataset = build_dataset(ctx, ckpt, needed=text is None)
    batch = None
    if text is None:
        x, example, batch = example_input(dataset, args.index, SPLITS[args.split], ckpt)
    else:
        if not ctx.has("tokenizer"):
            raise UserError(f"checkpoint {ckpt.path}: its pipeline takes no text (the spec has no [tokenizer]); "
                            "picture one of its dataset's examples instead: --index N [--split test|val|train]")
        width, tok_width = getattr(model, "embedding_dim", None), getattr(ctx.tokenizer, "embedding_dim", None)
        if isinstance(width, int) and isinstance(tok_width, int) and width != tok_width:
            raise UserError(f"checkpoint {ckpt.path}: its pipeline reads inputs {width} wide but its tokenizer gives {tok_width}-wide "
                            "embeddings, so it takes no text; picture one of its dataset's examples instead: --index N [--split test|val|train]")
        x = ctx.tokenizer.encode([text])
        example = f"Q: {text}"
    tr = trace(model, x, batch)
    prediction = dataset.describe_prediction(tr["prediction"]) if isinstance(dataset, DescribedDataset) else summary(tr["prediction"])
    print(f"{example}\n{prediction}", flush=True)
    path = picture(model, tr, example, prediction, Path(args.out), frames=max(2, args.frames), labels=("", ""))
    print(f"picture: {path}", flush=True)
    if args.animate:
        print(f"animation: {animation(model, tr, Path(args.animate))}", flush=True)
    if text is None and isinstance(dataset, PicturedDataset):
        pictured(model, dataset, args, tr, x, batch, example, ckpt)
    return 0


def examples_only(model: Any, dataset: Any, args: Any, checkpoint: Any) -> int:
    """A pipeline that is no lattice pipeline, on a dataset that pictures its examples: the two lines and
    the side-by-side picture (input, target, prediction)."""
    from aa_core.protocols import DescribedDataset

    from .views import predict

    split = SPLITS[args.split]
    _, example, batch = example_input(dataset, args.index, split, checkpoint)
    output = predict(model, batch)
    prediction = dataset.describe_prediction(output) if isinstance(dataset, DescribedDataset) else summary(output)
    print(f"{example}\n{prediction}", flush=True)
    write_examples(model, dataset, args, split, checkpoint)
    return 0


def run_label(path: Any) -> str:
    """The run a checkpoint folder belongs to, for titles: ``RUN`` or ``RUN/final`` (``best``, ``epoch-0002``, …)."""
    p = Path(str(path))
    return "/".join(p.parts[-2:]) if p.name in ("final", "best") or p.name.startswith(("epoch-", "step-")) else p.name


def write_examples(model: Any, dataset: Any, args: Any, split: str, checkpoint: Any) -> list:
    """``FILE_examples.png``: input, target and prediction of ``--examples`` examples from ``--index``; the rows."""
    from .pictures import examples_png
    from .views import example_rows

    rows = example_rows(model, dataset, split, args.index, args.examples)
    title = f"{run_label(checkpoint.path)}: input, target and prediction ({SPLITS_SHORT.get(split, split)} split)"
    print(f"examples: {examples_png(rows, sibling(args.out, 'examples.png'), title)}", flush=True)
    return rows


def pictured(model: Any, dataset: Any, args: Any, tr: dict, x: Any, batch: Any, example: str, checkpoint: Any) -> None:
    """The pictures of a PicturedDataset's example on a lattice pipeline: side by side, the state over time
    (PNG strip and GIF: grown, damaged, regrown for a DamagedDataset) and, for 3D class grids, voxels."""
    from .pictures import frames_gif, strip_png, voxels_png
    from .views import over_time, voxel_panels

    split = SPLITS[args.split]
    rows = write_examples(model, dataset, args, split, checkpoint)
    timeline = over_time(model, dataset, tr, x, batch, args.index, split, max(2, args.frames))
    head = f"{example} — the prediction after each step"
    print(f"steps: {strip_png(timeline['strip'], sibling(args.out, 'steps.png'), head)}", flush=True)
    print(f"steps animation: {frames_gif(timeline['gif'], sibling(args.out, 'steps.gif'), timeline['hold'])}", flush=True)
    _, panels = rows[0]
    voxels = voxel_panels(dataset, panels[1][1], timeline, panels[2][1], model, x, args.index, split)
    if voxels:
        print(f"voxels: {voxels_png(voxels, sibling(args.out, 'voxels.png'), example)}", flush=True)

