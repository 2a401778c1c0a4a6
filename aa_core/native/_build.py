"""Build, cache and load a plugin's C++ sources as a ctypes library (torch-free; see :mod:`aa_core.native`)."""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

CACHE_ENV = "AA_NATIVE_CACHE"  # where built libraries are kept (default: <user cache dir>/aa/native)
DISABLE_ENV = "AA_NO_NATIVE"  # 1: build nothing, every kernel user takes its PyTorch path
LEGACY_DISABLE_ENV = "AA_NO_FUSED"  # the 0.1 name of DISABLE_ENV, still honoured
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c++17")
BUILD_TIMEOUT_S = 300

# ctypes shorthands for signature strings: "i32(ptr, ptr, i64, i32)"
CTYPES: dict[str, type | None] = {
    "void": None, "ptr": ctypes.c_void_p, "i32": ctypes.c_int32, "i64": ctypes.c_int64,
    "f32": ctypes.c_float, "f64": ctypes.c_double,
}

_lock = threading.Lock()
_libraries: dict[str, ctypes.CDLL | None] = {}  # name → the loaded library, or None after a failure
_errors: dict[str, str] = {}  # name → why it is None
_warned = False  # the one warning per process (the first kernel that cannot be used says why; later ones are in status())


class NativeBuildError(RuntimeError):
    """A library could not be built or loaded (no compiler, a compile error, a missing symbol)."""


def cache_dir() -> Path:
    """``$AA_NATIVE_CACHE``, else ``$XDG_CACHE_HOME/aa/native``, else ``~/.cache/aa/native``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "aa" / "native"


def compiler() -> str | None:
    """The C++ compiler: ``$CXX``, else the first of ``c++``, ``g++``, ``clang++`` on the PATH."""
    for c in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        found = shutil.which(c) if c else None
        if found:
            return found
    return None


def disabled() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in (DISABLE_ENV, LEGACY_DISABLE_ENV))


def _cpu_id() -> str:
    """``-march=native`` code is CPU-specific: the cache key includes the CPU's model and flags."""
    try:
        with open("/proc/cpuinfo") as f:
            return "".join([ln for ln in f if ln.startswith(("model name", "flags"))][:2])
    except OSError:
        return platform.processor() or platform.machine()


def build_key(name: str, sources: Sequence[Path], flags: Sequence[str], cxx: str) -> str:
    """A hash of everything the built file depends on: the sources' bytes, the flags, the compiler's version, the CPU."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    h = hashlib.sha256(name.encode())
    for src in sources:
        h.update(b"\0" + src.name.encode() + b"\0" + src.read_bytes())
    for part in (" ".join(flags), cxx, version, _cpu_id()):
        h.update(b"\0" + part.encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An advisory lock held while one process builds a key (others wait, then reuse its file)."""
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): the temp file + os.replace alone keeps the cache consistent
        yield
        return
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def build(name: str, sources: Sequence[str | os.PathLike[str]], flags: Sequence[str] = FLAGS) -> Path:
    """Compile ``sources`` into ``<cache_dir>/<name>-<key>.so`` unless that file exists, and return its path.

    Atomic: the compiler writes into a private temp folder in the cache dir and the result is renamed
    onto the final name (``os.replace``), under a per-key file lock, so concurrent processes never
    see or load a half-written library and build a key once. Raises :class:`NativeBuildError`."""
    cxx = compiler()
    if cxx is None:
        raise NativeBuildError("no C++ compiler found (install g++ or clang++, or set CXX)")
    paths = [Path(s) for s in sources]
    for p in paths:
        if not p.is_file():
            raise NativeBuildError(f"source not found: {p}")
    key = build_key(name, paths, flags, cxx)
    d = cache_dir()
    final = d / f"{name}-{key}.so"
    if final.exists():
        return final
    d.mkdir(parents=True, exist_ok=True)
    with _file_lock(d / f"{name}-{key}.lock"):
        if final.exists():  # another process built it while this one waited
            return final
        with tempfile.TemporaryDirectory(prefix=f".{name}-{key}.", dir=d) as tmp:
            out = Path(tmp) / final.name
            cmd = [cxx, *flags, *(str(p) for p in paths), "-o", str(out)]
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise NativeBuildError(f"{cxx} failed to run: {e}") from e
            if res.returncode != 0:
                raise NativeBuildError(f"compile failed: {res.stderr.strip()[-800:]}")
            os.replace(out, final)
    return final


def _signature(spec: str | tuple) -> tuple[type | None, list[type]]:
    """``"i32(ptr, i64)"`` (or ``(restype, [argtypes])``) → ctypes restype and argtypes."""
    if not isinstance(spec, str):
        restype, argtypes = spec
        return restype, list(argtypes)
    head, _, rest = spec.partition("(")
    if not rest.endswith(")"):
        raise ValueError(f"bad signature {spec!r}: expected e.g. 'void(ptr, i64)'")
    try:
        args = [a.strip() for a in rest[:-1].split(",") if a.strip()]
        return CTYPES[head.strip()], [t for t in (CTYPES[a] for a in args) if t is not None]
    except KeyError as e:
        raise ValueError(f"bad signature {spec!r}: unknown type {e} (known: {', '.join(CTYPES)})") from None


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(message + " (further native kernels that cannot be used are listed by aa_core.native.status(), "
                      "not warned again)", RuntimeWarning, stacklevel=4)


def load_library(name: str, sources: Sequence[str | os.PathLike[str]], signatures: Mapping[str, str | tuple] | None = None,
                 flags: Sequence[str] = FLAGS) -> ctypes.CDLL | None:
    """The compiled library ``name`` built from ``sources`` (C++ files with ``extern "C"`` functions), or
    None when it cannot be built or loaded here (no compiler, a build error, ``AA_NO_NATIVE=1``): the
    first such failure in a process warns once, and the caller keeps its PyTorch path.

    ``signatures`` maps each exported function to ``"restype(argtype, ...)"`` with the types
    ``void ptr i32 i64 f32 f64`` (or a ctypes ``(restype, [argtypes])`` pair); a missing symbol is a
    load failure. Built once per process and cached across processes (:func:`build`)."""
    if name in _libraries:
        return _libraries[name]
    with _lock:
        if name in _libraries:
            return _libraries[name]
        lib: ctypes.CDLL | None = None
        if disabled():
            _errors[name] = f"disabled by {DISABLE_ENV}"
        else:
            try:
                lib = ctypes.CDLL(str(build(name, sources, flags)))
                for fn_name, spec in (signatures or {}).items():
                    fn = getattr(lib, fn_name)  # AttributeError: the symbol is missing
                    fn.restype, fn.argtypes = _signature(spec)
            except Exception as e:  # noqa: BLE001 - no compiler, a build or load error: the PyTorch path
                lib = None
                _errors[name] = f"{type(e).__name__}: {e}"
                _warn_once(f"aa: native kernel {name!r} unavailable, using the PyTorch path ({_errors[name]})")
        _libraries[name] = lib
        return lib


def disable(name: str, exc: BaseException) -> None:
    """Turn library ``name`` off for this process after a runtime failure (the caller falls back; warns once)."""
    with _lock:
        if _libraries.get(name) is not None:
            _libraries[name] = None
            _errors[name] = f"{type(exc).__name__}: {exc}"
            _warn_once(f"aa: native kernel {name!r} failed, using the PyTorch path ({_errors[name]})")


def error(name: str) -> str | None:
    """Why library ``name`` is unavailable (after :func:`load_library` was called for it), else None."""
    return _errors.get(name)


def status() -> dict[str, str | None]:
    """Every library asked for in this process: None when loaded, else why not."""
    return {n: (None if lib is not None else _errors.get(n, "not built")) for n, lib in _libraries.items()}


def reset(name: str | None = None) -> None:
    """Forget the loaded state of ``name`` (all when None) and re-arm the warning: for tests."""
    global _warned
    with _lock:
        for n in [name] if name is not None else list(_libraries):
            _libraries.pop(n, None)
            _errors.pop(n, None)
        _warned = False
