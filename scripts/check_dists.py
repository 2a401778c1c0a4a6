"""Check built distributions against the source tree: each project has one wheel and one sdist in the
folder, every tracked file of its import packages (code, architecture TOMLs, registry.lock, the C++
kernel source, static pages) is in the wheel, no bytecode is, and the wheel's metadata declares the
aa-core range it was built for. Prints the sizes and ends with one JSON line.

    python scripts/check_dists.py [--build-seconds S] DIST_DIR PROJECT_DIR...
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path


def _tracked(root: Path, rel: str) -> list[str]:
    """Files under root/rel, as git tracks them (the filesystem, less build litter, outside a checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "--", rel], cwd=root, capture_output=True, text=True, check=True).stdout
        files = [line for line in out.splitlines() if line]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    base = root / rel
    return [str(p.relative_to(root)) for p in base.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not any(part.endswith(".egg-info") for part in p.parts)]


def expected_files(project: Path) -> dict[str, str]:
    """wheel path → source path of every tracked file in the project's import packages."""
    conf = tomllib.loads((project / "pyproject.toml").read_text())
    st = conf.get("tool", {}).get("setuptools", {})
    mapping = dict(st.get("package-dir", {}))  # package → folder (e.g. aa_core.architectures.shipped → registry)
    explicit = st.get("packages")
    if isinstance(explicit, list):
        roots = sorted({p.split(".")[0] for p in explicit})
    else:
        roots = sorted(d.name for d in project.iterdir() if d.is_dir() and (d / "__init__.py").is_file() and d.name.startswith("aa_"))
    out: dict[str, str] = {}
    for top in roots:
        for rel in _tracked(project, top):
            out[rel] = rel
    for package, folder in mapping.items():
        if not package:
            continue
        prefix = package.replace(".", "/")
        for rel in _tracked(project, folder):
            out[prefix + "/" + rel[len(folder.rstrip("/")) + 1:]] = rel
    return out


def core_range(metadata: str) -> str:
    """The aa-core specifier in a METADATA file's Requires-Dist lines ('' when there is none)."""
    msg = Parser().parsestr(metadata)
    for req in msg.get_all("Requires-Dist") or []:
        m = re.match(r"\s*aa[-_.]core\s*(\[[^\]]*\])?\s*\(?([^;)]*)\)?", req, re.I)
        if m:
            return m.group(2).strip()
    return ""


def check(dist_dir: Path, project: Path) -> tuple[dict, list[str]]:
    conf = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    name, version = conf["name"], conf["version"]
    norm = re.sub(r"[-_.]+", "_", name).lower()
    wheels = sorted(dist_dir.glob(f"{norm}-{version}-*.whl"))
    sdists = sorted(dist_dir.glob(f"{norm}-{version}.tar.gz"))
    errors = []
    if len(wheels) != 1 or len(sdists) != 1:
        return {"name": name}, [f"{name}: expected one wheel and one sdist of {version} in {dist_dir}, found {[p.name for p in wheels + sdists]}"]
    wheel, sdist = wheels[0], sdists[0]
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = zf.read(f"{norm}-{version}.dist-info/METADATA").decode()
    missing = sorted(src for dest, src in expected_files(project).items() if dest not in names)
    if missing:
        errors.append(f"{name}: {len(missing)} tracked package file(s) missing from {wheel.name}: {', '.join(missing[:8])}"
                      " (add the package to [tool.setuptools] packages or the files to package-data)")
    litter = sorted(n for n in names if n.endswith(".pyc") or "__pycache__" in n)
    if litter:
        errors.append(f"{name}: bytecode in {wheel.name}: {litter[:3]}")
    with tarfile.open(sdist) as tf:
        snames = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
    for need in ("pyproject.toml", "PKG-INFO"):
        if need not in snames:
            errors.append(f"{name}: {sdist.name} lacks {need}")
    rng = core_range(meta) if name != "aa-core" else ""
    if name != "aa-core" and not re.search(r"<", rng):
        errors.append(f"{name}: Requires-Dist on aa-core is {rng or 'missing'!r}; declare the range the plugin was built for, e.g. 'aa-core>=0.1,<0.3'")
    data = sorted(n for n in names if not n.endswith(".py") and ".dist-info/" not in n)
    row = {"name": name, "version": version, "wheel_bytes": wheel.stat().st_size, "sdist_bytes": sdist.stat().st_size,
           "files": len(names), "data_files": len(data), "core_range": rng}
    return row, errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dist_dir", type=Path)
    ap.add_argument("projects", type=Path, nargs="+")
    ap.add_argument("--build-seconds", type=float, default=None)
    args = ap.parse_args(argv)
    rows, errors = [], []
    for project in args.projects:
        row, errs = check(args.dist_dir, project)
        rows.append(row)
        errors += errs
    print(f"{'distribution':24} {'version':8} {'wheel KiB':>10} {'sdist KiB':>10} {'files':>6} {'data':>5}  aa-core range")
    for r in rows:
        if "wheel_bytes" in r:
            print(f"{r['name']:24} {r['version']:8} {r['wheel_bytes'] / 1024:10.1f} {r['sdist_bytes'] / 1024:10.1f} {r['files']:6d} {r['data_files']:5d}  {r['core_range']}")
    total = sum(r.get("wheel_bytes", 0) for r in rows)
    print(f"{len(rows)} distributions, wheels {total / 1024:.1f} KiB in all")
    for e in errors:
        print(f"ERROR: {e}", file=sys.stderr)
    print(json.dumps({"distributions": len(rows), "wheel_bytes_total": total, "build_seconds": args.build_seconds,
                      "wheels": {r["name"]: r.get("wheel_bytes") for r in rows}, "ok": not errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
