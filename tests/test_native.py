"""The native-kernel service (aa_core.native): content-hashed cache, atomic builds by concurrent processes,
the fallback without a compiler (one warning per process); and the core's kernel as a custom op
(``aa::depthwise_cell``): fake implementation, autograd formula, torch.func, vmap and torch.compile.

Tests that need a compiler skip (with the reason) where there is none."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from aa_core import native
from aa_core.builtins.configs import LatticeConfig, NCAConfig
from aa_core.lattice import _fused
from aa_core.lattice.depthwise import DepthwiseNCACell
from aa_core.lattice.geometry import Lattice
from aa_core.lattice.nca import NCAPropagator
from aa_core.native import _build

ADD = textwrap.dedent("""\
    #include <cstdint>
    extern "C" int64_t aa_test_add(int64_t a, int64_t b) { return a + b + OFFSET; }
    """)


def _needs_compiler():
    if native.compiler() is None:
        pytest.skip("no C++ compiler here")


def _needs_kernel():
    if _fused.load() is None:
        pytest.skip(f"fused depthwise kernel unavailable here: {_fused.error()}")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty cache under tmp_path, the service's per-process state forgotten before and after."""
    monkeypatch.setenv("AA_NATIVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AA_NO_NATIVE", raising=False)
    monkeypatch.delenv("AA_NO_FUSED", raising=False)
    names = ["aa_test_add", "aa_test_other", "aa_test_broken"]
    for n in names:
        native.reset(n)
    yield tmp_path
    for n in names:
        native.reset(n)


def _source(tmp_path, offset: int = 0):
    src = tmp_path / "add.cpp"
    src.write_text(ADD.replace("OFFSET", str(offset)))
    return src


# ---- the service ----------------------------------------------------------------------------------
def test_cache_dir_respects_the_env_var_and_defaults_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("AA_NATIVE_CACHE", str(tmp_path / "here"))
    assert native.cache_dir() == tmp_path / "here"
    monkeypatch.delenv("AA_NATIVE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert native.cache_dir() == tmp_path / "xdg" / "aa" / "native"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert str(native.cache_dir()).endswith("/.cache/aa/native")


def test_build_is_cached_by_content(fresh):
    _needs_compiler()
    src = _source(fresh)
    first = native.build("aa_test_add", [src])
    assert first.parent == fresh / "cache" and first.name.startswith("aa_test_add-") and first.suffix == ".so"
    stamp = first.stat().st_mtime_ns
    assert native.build("aa_test_add", [src]) == first and first.stat().st_mtime_ns == stamp  # reused, not rebuilt
    src.write_text(ADD.replace("OFFSET", "1"))
    assert native.build("aa_test_add", [src]) != first  # new content, new key
    lib = native.load_library("aa_test_add", [src], {"aa_test_add": "i64(i64, i64)"})
    assert lib is not None and lib.aa_test_add(2, 3) == 6
    assert native.status()["aa_test_add"] is None


BUILDER = """
import sys, time
from aa_core.native import _build
if sys.argv[2] == "nolock":  # the temp file + os.replace alone must keep the cache whole
    import contextlib
    _build._file_lock = lambda path: contextlib.nullcontext()
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # start together
lib = _build.load_library("aa_test_add", [sys.argv[1]], {"aa_test_add": "i64(i64, i64)"})
print(lib.aa_test_add(40, 2))
"""


@pytest.mark.parametrize("mode", ["lock", "nolock"])
def test_two_processes_building_at_once_leave_one_good_library(fresh, mode):
    """Two real processes build the same library into an empty cache at the same moment: both load it and
    get the right answer, and the cache holds one finished .so (no temp folder, no half-written file)."""
    import time

    _needs_compiler()
    src = _source(fresh, offset=100)
    start = str(time.time() + 1.5)
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(src), mode, start], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == "142"
    files = sorted(x.name for x in (fresh / "cache").iterdir())
    built = [f for f in files if f.endswith(".so")]
    assert len(built) == 1 and built[0].startswith("aa_test_add-"), files
    assert not [f for f in files if f.startswith(".")], files  # no temp folder left behind
    lib = native.load_library("aa_test_add", [src], {"aa_test_add": "i64(i64, i64)"})  # this process reuses it
    assert lib is not None and lib.aa_test_add(1, 1) == 102


def test_no_compiler_falls_back_with_one_warning_per_process(fresh, monkeypatch):
    src = _source(fresh)
    monkeypatch.setattr(_build, "compiler", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert native.load_library("aa_test_add", [src]) is None
        assert native.load_library("aa_test_other", [src]) is None
        assert native.load_library("aa_test_add", [src]) is None
    ours = [w for w in caught if "native kernel" in str(w.message)]
    assert len(ours) == 1 and "no C++ compiler" in str(ours[0].message)
    assert "compiler" in native.error("aa_test_add") and "compiler" in native.status()["aa_test_other"]


def test_a_build_error_or_the_switch_falls_back(fresh, monkeypatch):
    _needs_compiler()
    bad = fresh / "bad.cpp"
    bad.write_text("this is not C++\n")
    with pytest.warns(RuntimeWarning, match="compile failed"):
        assert native.load_library("aa_test_broken", [bad]) is None
    src = _source(fresh)
    assert native.load_library("aa_test_other", [src], {"aa_test_missing_symbol": "void()"}) is None  # warned already
    assert "aa_test_missing_symbol" in native.error("aa_test_other")
    monkeypatch.setenv("AA_NO_NATIVE", "1")
    assert native.load_library("aa_test_add", [src]) is None and "AA_NO_NATIVE" in native.error("aa_test_add")


def test_signature_strings():
    import ctypes

    assert _build._signature("void(ptr, i64, i32)") == (None, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32])
    assert _build._signature("f32()") == (ctypes.c_float, [])
    with pytest.raises(ValueError, match="unknown type"):
        _build._signature("int(ptr)")


def test_no_cpp_source_inside_python_strings():
    """Kernels ship as .cpp files: no Python module of the repository's packages carries C++ source lines."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    cpp_line = re.compile(r"^\s*(#include\s*[<\"]|#pragma omp|extern \"C\" \{|template\s*<)", re.MULTILINE)
    offenders = []
    for py in [*root.glob("aa_core/**/*.py"), *root.glob("plugins/**/*.py"), *root.glob("examples/**/*.py"), *root.glob("bench/*.py")]:
        if {"tests", "build", ".venv"} & set(py.relative_to(root).parts):
            continue
        if cpp_line.search(py.read_text(encoding="utf-8")):
            offenders.append(str(py.relative_to(root)))
    assert not offenders, offenders


# ---- aa::depthwise_cell ---------------------------------------------------------------------------
def _cell(size=(4, 5, 3), neighbourhood=26, boundary="zero", channels=8, multiplier=4, hidden=32, seed=0):
    torch.manual_seed(seed)
    g = Lattice(LatticeConfig(size=list(size), neighbourhood=neighbourhood, boundary=boundary))
    return g, DepthwiseNCACell(g, channels=channels, multiplier=multiplier, hidden=hidden)


def test_the_op_registration_passes_opcheck():
    _needs_kernel()
    g, cell = _cell()
    x = torch.randn(2, 4, 5, 3, 8)
    with torch.no_grad():
        packed = [t.clone() for t in cell.fused_weights(g)]
    for t in packed:
        t.requires_grad_()
    torch.library.opcheck(torch.ops.aa.depthwise_cell.default, (x.requires_grad_(), *packed, [False, True, False]))


@pytest.mark.parametrize("boundary, neighbourhood", [("zero", 26), ("periodic", 18), ("periodic", 6)])
def test_the_autograd_formula_equals_the_reference_gradients(boundary, neighbourhood):
    """Gradients through the fused op (kernel forward, backward in PyTorch ops) equal autograd's through the
    Cell contract's gather path, for the grid and every parameter (fp32: |Δ| ≤ 1e-4 · max(1, |ref|))."""
    _needs_kernel()
    g, cell = _cell(size=(3, 4, 5), boundary=boundary, neighbourhood=neighbourhood)
    x = torch.randn(2, 3, 4, 5, 8, requires_grad=True)
    weights = torch.randn(2, 3, 4, 5, 8)
    params = [x, *cell.parameters()]
    fused = _fused.depthwise_forward(x, *cell._pack(g), g.periodic_axes)
    ref = g.to_grid(cell(g.gather(g.to_cells(x))).contiguous())
    assert float((fused - ref).detach().abs().max()) <= 1e-5 * max(1.0, float(ref.detach().abs().max()))
    got = torch.autograd.grad((fused * weights).sum(), params)
    want = torch.autograd.grad((ref * weights).sum(), params)
    for a, b in zip(got, want):
        assert float((a - b).abs().max()) <= 1e-4 * max(1.0, float(b.abs().max()))


def test_torch_func_grad_and_vmap_see_through_the_op():
    _needs_kernel()
    g, cell = _cell(boundary="periodic")
    x = torch.randn(3, 4, 5, 3, 8)
    packed = [t.detach() for t in cell._pack(g)]
    per = [True, True, True]

    def loss(w1, grid):
        return (_fused.depthwise_cell(grid, packed[0], w1, *packed[2:], per) ** 2).sum()

    w1 = packed[1].clone()
    by_func = torch.func.grad(loss)(w1, x)
    w1_leaf = w1.clone().requires_grad_()
    (by_autograd,) = torch.autograd.grad(loss(w1_leaf, x), [w1_leaf])
    assert torch.allclose(by_func, by_autograd, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        xs = torch.randn(4, 2, 4, 5, 3, 8)  # vmapped grid: folded into the batch, one kernel call
        mapped = torch.vmap(lambda grid: _fused.depthwise_cell(grid, *packed, per))(xs)
        looped = torch.stack([_fused.depthwise_cell(v, *packed, per) for v in xs])
        assert torch.equal(mapped, looped)
        w1s = torch.stack([packed[1], 2 * packed[1]])  # vmapped weight: one call per slice
        mapped = torch.vmap(lambda w: _fused.depthwise_cell(x, packed[0], w, *packed[2:], per))(w1s)
        assert torch.equal(mapped[1], _fused.depthwise_cell(x, packed[0], w1s[1], *packed[2:], per))


def test_the_fake_implementation_runs_on_the_meta_device():
    _needs_kernel()
    g, cell = _cell()
    packed = [t.detach().to("meta") for t in cell._pack(g)]
    out = _fused.depthwise_cell(torch.empty(2, 4, 5, 3, 8, device="meta"), *packed, [False] * 3)
    assert out.is_meta and out.shape == (2, 4, 5, 3, 8)
    with torch.device("meta"):
        meta_cell = DepthwiseNCACell(g, channels=8, multiplier=4, hidden=32).eval()
    with torch.no_grad():  # the cell's fused path on meta (packed weights not cached: no storage)
        assert meta_cell.lattice_forward(torch.empty(1, 4, 5, 3, 8, device="meta"), g).shape == (1, 4, 5, 3, 8)


def _explain(fn, *args):
    torch._dynamo.reset()
    try:
        return torch._dynamo.explain(fn)(*args)
    finally:
        torch._dynamo.reset()


def _ops(explanation) -> set[str]:
    return {str(node.target) for gm in explanation.graphs for node in gm.graph.nodes if node.op == "call_function"}


def test_dynamo_traces_the_fused_path_in_one_graph():
    """An eval step of the nca propagator with the depthwise cell (no grad: the fused kernel) is one graph
    with no break, the kernel one node in it."""
    _needs_kernel()
    g, cell = _cell(size=(4, 4, 4), channels=16, multiplier=4, hidden=64)
    prop = NCAPropagator(NCAConfig(steps=2), g, cell).eval()
    grid = torch.randn(2, 4, 4, 4, 16)
    with torch.no_grad():
        e = _explain(prop.step_grid, grid)
        assert e.graph_break_count == 0 and e.graph_count == 1, e.break_reasons
        assert "aa.depthwise_cell.default" in _ops(e)
        compiled = torch.compile(prop.step_grid, backend="aot_eager", fullgraph=True)
        assert torch.allclose(compiled(grid), prop.step_grid(grid), atol=1e-5)
        torch._dynamo.reset()


@pytest.mark.parametrize("training", [True, False])
def test_dynamo_traces_the_mlp_cells_fast_path_without_a_break(training):
    """The core nca propagator with the built-in mlp cell on its fast (lattice-wide) path: a step, training
    (fire mask, alive masking, grad) or eval, is one graph."""
    from aa_core.builtins.configs import MLPCellConfig
    from aa_core.builtins.mlp import MLPCell

    torch.manual_seed(0)
    g = Lattice(LatticeConfig(size=[4, 4, 4], boundary="periodic"))
    cell = MLPCell(MLPCellConfig(channels=8, hidden=16), g)
    prop = NCAPropagator(NCAConfig(steps=2, fire_rate=0.5, alive_threshold=0.1, alive_channel=0), g, cell).train(training)
    assert prop.uses_fast_path
    grid = torch.rand(2, 4, 4, 4, 8, requires_grad=training)
    with torch.set_grad_enabled(training):
        e = _explain(prop.step_grid, grid)
    assert e.graph_break_count == 0 and e.graph_count == 1, e.break_reasons
