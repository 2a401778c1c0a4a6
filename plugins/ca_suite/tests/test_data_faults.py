"""Damaged and hand-made data files of the CA tasks, as a user's file would be: voxel structures (.nbt, written with
nbtlib), 1D-ARC grids, emoji fonts, and relative data paths. Each is refused by `aa run` with exit 2 and one
paragraph naming the file, the key and the fix: no traceback, no run folder (issue 38)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from aa_ca.arc1d_task import load_task
from aa_ca.emoji import render_emoji
from aa_ca.voxel import load_structure
from aa_core.plugin import UserError

REPO = Path(__file__).resolve().parents[3]
VOXEL = REPO / "examples" / "ca" / "voxel_growth.toml"
ARC = REPO / "examples" / "ca" / "arc1d.toml"
EMOJI = REPO / "examples" / "ca" / "emoji_growth.toml"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# A 5³ structure of one block class (stone): classes air + stone, so the state is 2 logits + alive + 12 hidden.
SMALL = ("--set", "geometry.size=[5,5,5]", "--set", "cell.channels=15", "--set", "propagator.alive_channel=2")
TINY_RUN = ("--set", "train.steps=1", "--set", "train.eval_every=1", "--set", "train.batch_size=2", "--set", "pipeline.steps=[2,2]",
            "--set", "pipeline.eval_steps=2", "--set", "dataset.pool_size=4")


def write_structure(path: Path, size: list[int], blocks: list[tuple[list[int], int]], palette: tuple[str, ...] = ("minecraft:stone",)) -> Path:
    """A gzipped NBT structure file as Minecraft saves one (size, palette, blocks with pos and state)."""
    import nbtlib
    from nbtlib.tag import Compound, Int, List, String

    nbt = nbtlib.File({"size": List[Int]([Int(v) for v in size]),
                       "palette": List[Compound]([Compound({"Name": String(n)}) for n in palette]),
                       "blocks": List[Compound]([Compound({"pos": List[Int]([Int(v) for v in pos]), "state": Int(s)}) for pos, s in blocks]),
                       "DataVersion": Int(2586)})
    nbt.save(str(path), gzipped=True)
    return path


def small_structure(path: Path) -> Path:
    """A 5³ plus sign of stone around the centre."""
    return write_structure(path, [5, 5, 5], [([2, 2, 2], 0), ([1, 2, 2], 0), ([3, 2, 2], 0), ([2, 1, 2], 0), ([2, 3, 2], 0)])


def refused(aa, tmp_path: Path, spec: Path, *sets: str, cwd: Path = REPO):
    """`aa run SPEC` with its folders under tmp_path: exit 2, one paragraph, no traceback, no run folder."""
    r = aa("run", str(spec), *sets, "--set", f"run.checkpoint_dir={tmp_path}/ck", "--set", f"run.output_dir={tmp_path}/runs",
           cwd=cwd, timeout=300)
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "unexpected failure" not in r.stderr
    assert not (tmp_path / "ck").exists() and not (tmp_path / "runs").exists()  # nothing half-written
    return r.stderr


# ---- voxel structures (cases 1, 2, 3, 12) -----------------------------------------------------------
BAD_STRUCTURES = {
    "block_outside": ([8, 8, 27], [([4, 4, 13], 0), ([50, 0, 0], 0)], ["block 1 lies at pos [50, 0, 0]", "size [8, 8, 27]"]),
    "block_at_minus_one": ([8, 8, 27], [([4, 4, 13], 0), ([-1, 0, 0], 0)], ["block 1 lies at pos [-1, 0, 0]"]),  # wrapped round before
    "state_not_in_palette": ([8, 8, 27], [([4, 4, 13], 99)], ["block 0 has state 99", "the palette has 1 entry"]),
    "no_blocks": ([8, 8, 27], [], ["holds no blocks"]),
    "only_air": ([8, 8, 27], [([4, 4, 13], 0)], ["only air"]),
    "size_zero": ([0, 0, 0], [], ["claims size [0, 0, 0]"]),
    "size_negative": ([-8, 8, 27], [([4, 4, 13], 0)], ["claims size [-8, 8, 27]"]),
    "size_huge": ([100000, 100000, 100000], [([4, 4, 13], 0)], ["claims a size of 100000×100000×100000"]),
}


@pytest.mark.parametrize("case", list(BAD_STRUCTURES))
def test_a_damaged_structure_is_refused_naming_the_file(aa, tmp_path, case):
    size, blocks, expect = BAD_STRUCTURES[case]
    palette = ("minecraft:air",) if case == "only_air" else ("minecraft:stone",)
    path = write_structure(tmp_path / f"{case}.nbt", size, blocks, palette)
    with pytest.raises(UserError) as err:  # the loader itself, before any tensor is allocated
        load_structure(path)
    for text in expect:
        assert text in str(err.value), str(err.value)
    msg = refused(aa, tmp_path, VOXEL, "--set", f"dataset.path={path}")
    assert str(path) in msg and "[dataset] path" in msg and all(text in msg for text in expect), msg
    assert "geometry.size" not in msg  # case 12: not blamed on the lattice


def test_a_structure_that_does_not_fit_the_lattice_is_refused_before_the_run_folder(aa, tmp_path):
    path = small_structure(tmp_path / "plus.nbt")
    msg = refused(aa, tmp_path, VOXEL, "--set", f"dataset.path={path}")  # the spec's lattice is the caterpillar's 8×8×27
    assert str(path) in msg and "is 5×5×5" in msg and "set [geometry] size = [5, 5, 5]" in msg, msg


# ---- relative data paths (case 11) -------------------------------------------------------------------
def test_relative_dataset_paths_resolve_against_the_spec_folder(aa, tmp_path, monkeypatch):
    """A relative [dataset] path (voxel structure, emoji font) is the spec folder's; a --set one the current folder's."""
    from aa_core.run import load_spec

    specs, elsewhere = tmp_path / "specs", tmp_path / "elsewhere"
    (specs / "data").mkdir(parents=True)
    elsewhere.mkdir()
    small_structure(specs / "data" / "plus.nbt")
    voxel = specs / "voxel.toml"
    voxel.write_text(VOXEL.read_text().replace('structure = "caterpillar_short"', 'path = "data/plus.nbt"'))
    emoji = specs / "emoji.toml"
    emoji.write_text(EMOJI.read_text().replace("[dataset]\n", '[dataset]\nfont = "fonts/emoji.ttf"\n', 1))
    monkeypatch.chdir(elsewhere)
    assert load_spec(voxel).config("dataset").path == str(specs / "data" / "plus.nbt")
    assert load_spec(emoji).config("dataset").font == str(specs / "fonts" / "emoji.ttf")
    assert load_spec(voxel, ["dataset.path=mine.nbt"]).config("dataset").path == str(elsewhere / "mine.nbt")
    r = aa("run", str(voxel), *SMALL, *TINY_RUN, "--set", f"run.checkpoint_dir={tmp_path}/ck", "--set", f"run.output_dir={tmp_path}/runs",
           cwd=elsewhere, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "ck").is_dir()


# ---- 1D-ARC grids (case 9) ---------------------------------------------------------------------------
GOOD = {"train": [{"input": [[0, 3, 3, 0, 0]], "output": [[0, 0, 3, 3, 0]]}] * 3,
        "test": [{"input": [[0, 5, 5, 0, 0]], "output": [[0, 0, 5, 5, 0]]}]}
BAD_GRIDS = {  # (grid put in train pair 2's input, what the message says)
    "rows_of_different_lengths": ([[0, 3, 3, 0, 0], [0, 3]], "has 2 rows of different lengths (2, 5)"),
    "two_rows": ([[0, 3, 3, 0, 0], [0, 3, 3, 0, 0]], "has 2 rows"),
    "fractional_colour": ([[0, 1.5, 3, 0, 0]], "has 1.5 at cell 1, not a colour"),
    "colour_out_of_range": ([[0, 12, 3, 0, 0]], "has 12 at cell 1, not a colour"),
    "colour_as_text": ([[0, "3", 3, 0, 0]], 'has "3" at cell 1, not a colour'),
    "colour_as_bool": ([[0, True, 3, 0, 0]], "has true at cell 1, not a colour"),
    "empty_grid": ([], "is an empty grid ([])"),
    "not_a_grid": (7, "is 7, not a list of rows"),
    "empty_row": ([[]], "is an empty row"),
}


def arc_folder(root: Path, grid: object | None = None) -> Path:
    """A 1D-ARC dataset folder (dataset/<task>/<task>_<n>.json) with one task ``t`` of 6 problems; ``grid`` replaces
    the input of train pair 2 of problem t_3."""
    folder = root / "dataset" / "t"
    folder.mkdir(parents=True)
    for n in range(6):
        data = json.loads(json.dumps(GOOD))
        if grid is not None and n == 3:
            data["train"][1]["input"] = grid
        (folder / f"t_{n}.json").write_text(json.dumps(data))
    return root / "dataset"


@pytest.mark.parametrize("case", list(BAD_GRIDS))
def test_a_malformed_arc_grid_is_refused_naming_the_file_and_pair(tmp_path, case):
    grid, expect = BAD_GRIDS[case]
    root = arc_folder(tmp_path, grid)
    with pytest.raises(UserError) as err:
        load_task(root, "t")
    msg = str(err.value)
    assert str(root / "t" / "t_3.json") in msg and "train pair 2's input" in msg and expect in msg, msg


def test_arc_rows_of_different_lengths_exit_2(aa, tmp_path):
    assert len(load_task(arc_folder(tmp_path / "ok"), "t")) == 6  # the good layout loads
    root = arc_folder(tmp_path / "bad", BAD_GRIDS["rows_of_different_lengths"][0])
    msg = refused(aa, tmp_path, ARC, "--set", f"dataset.path={root}", "--set", "dataset.task=t", "--set", "dataset.folds=2",
                  "--set", "dataset.validation=1")
    assert "t_3.json" in msg and "train pair 2's input has 2 rows of different lengths" in msg, msg


# ---- emoji fonts (case 10) ---------------------------------------------------------------------------
def test_an_explicit_font_that_does_not_exist_is_an_error(aa, tmp_path, monkeypatch):
    """Never a fall-back to another font (here a stand-in 'installed' font, so no real font is needed)."""
    installed = tmp_path / "installed.ttf"
    installed.write_bytes(b"a stand-in for the installed font")
    monkeypatch.setattr("aa_ca.emoji.FONT_PATHS", (str(installed),))
    monkeypatch.delenv("AA_EMOJI_FONT", raising=False)
    missing = tmp_path / "no" / "such.ttf"
    with pytest.raises(UserError, match=r"\[dataset\] font = .*such.ttf: no such file \(dataset.font\)"):
        render_emoji("🦎", 40, str(missing))
    msg = refused(aa, tmp_path, EMOJI, "--set", f"dataset.font={missing}")
    assert f"[dataset] font = {missing}: no such file (dataset.font)" in msg, msg


def test_a_font_that_cannot_render_the_emoji_is_an_error(tmp_path):
    garbage = tmp_path / "garbage.ttf"
    garbage.write_bytes(b"not a font")
    with pytest.raises(UserError, match=r"cannot load \[dataset\] font .*garbage.ttf as a font .*dataset.font"):
        render_emoji("🦎", 40, str(garbage))
    if DEJAVU.is_file():  # a real font without the emoji: it would draw its "missing glyph" box
        with pytest.raises(UserError, match=r"DejaVuSans.ttf has no glyph for \[dataset\] emoji = '🦎' \(dataset.font"):
            render_emoji("🦎", 40, str(DEJAVU))
        assert render_emoji("A", 20, str(DEJAVU))[..., 3].max() == 1.0  # a glyph it has renders
