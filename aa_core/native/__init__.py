"""The native-kernel service: a plugin ships ``.cpp`` files, one helper builds, caches and loads them, and
each kernel is a ``torch.library.custom_op`` that ``torch.compile``, the meta device and ``torch.func`` see through.

Shipping a kernel (the core's fused depthwise cell, :mod:`aa_core.lattice._fused`, and aa-nca's perception,
``aa_nca.cell_kernel``, are the two users):

1. Write the kernel as a real C++ file next to the Python module, with plain ``extern "C"`` functions
   taking pointers and sizes (no torch headers: see "Build" below), and list it in the distribution's
   package data (``[tool.setuptools.package-data] my_pkg = ["*.cpp"]``).
2. Load it with :func:`load_library` (plugins: ``aa_core.plugin.native_library``)::

       lib = native_library("my_kernel", [Path(__file__).with_name("my_kernel.cpp")],
                            {"my_forward": "void(ptr, ptr, i64, i32)"})   # None: use the PyTorch path

   or :func:`kernel_ready` (``aa_core.plugin.native_kernel_ready``) for a ``ready()`` test that
   ``torch.compile`` folds to a constant.
3. Wrap every function as a ``torch.library.custom_op`` (``device_types="cpu"``) whose body calls it on
   ``data_ptr()``\\ s, with ``register_fake`` (shapes only: used by ``torch.compile`` and on the meta device)
   and ``register_autograd`` (a backward built from other ops: the kernel's own backward ops, each
   registered the same way, or PyTorch ops), and optionally :func:`register_batch_vmap`.

Build: ``$CXX`` (else ``c++``/``g++``/``clang++``) with ``-O3 -march=native -fopenmp -shared -fPIC
-std=c++17``, into ``$AA_NATIVE_CACHE`` (default ``$XDG_CACHE_HOME/aa/native``, i.e.
``~/.cache/aa/native``) as ``<name>-<key>.so``, the key a hash of the sources' bytes, the flags, the
compiler's version and the CPU. Atomic: compiled in a private temp folder in the cache and renamed into
place under a per-key file lock, so two processes building at once never corrupt the cache (one builds,
the other waits and loads its file). No compiler, a compile error or ``AA_NO_NATIVE=1`` (the 0.1 name
``AA_NO_FUSED`` works too): :func:`load_library` returns None, the caller keeps its PyTorch path, and the
process warns once (:func:`status` lists every library and why it is not there).

Why our own small g++ build rather than ``torch.utils.cpp_extension.load``: the first run (cold cache)
of each costs, measured once here on a loaded 2-core machine (load average ~5, g++ 12.2): the plain C
sources ~0.9–1.0 s each with g++, against 28 s (core fused cell) and 34 s (aa-nca perception) for the
same sources wrapped with ``torch/extension.h`` through ``cpp_extension.load`` (compiling torch's headers
dominates). A user's first ``aa run`` would wait over a minute for two kernels; with plain C ABI + ctypes
it waits two seconds, and the torch integration lives in Python (``custom_op``) where it costs nothing.
A cached load is one ``c++ --version`` call and a ``dlopen``.
"""
from __future__ import annotations

from ._build import (
    CACHE_ENV,
    DISABLE_ENV,
    FLAGS,
    NativeBuildError,
    build,
    cache_dir,
    compiler,
    disable,
    error,
    load_library,
    reset,
    status,
)
from ._ops import autograd_op, kernel_ready, register_batch_vmap

# the names aa_core.plugin gives them (what a plugin imports)
native_library = load_library
native_kernel_ready = kernel_ready
native_batch_vmap = register_batch_vmap
native_autograd_op = autograd_op

__all__ = [
    "CACHE_ENV", "DISABLE_ENV", "FLAGS", "NativeBuildError", "autograd_op", "build", "cache_dir", "compiler", "disable", "error",
    "kernel_ready", "load_library", "native_autograd_op", "native_batch_vmap", "native_kernel_ready", "native_library", "register_batch_vmap",
    "reset", "status",
]
