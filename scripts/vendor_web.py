"""The browser runtime of aa-export's live page, vendored from npm into plugins/export/aa_export/web/vendor/.

The live page (``aa serve`` /live, ``aa export --format html``) runs the exported step in onnxruntime-web's
WebAssembly build and draws 3D lattices with three.js. Both come from npm, but ``pip install -r
requirements.txt`` reaches PyPI only, so the files the page needs are committed (gzip-compressed, 4 MB)
and recorded in ``VENDORED.json`` (package, version, licence, the npm tarball's integrity, each file's
sha256 and what it was made from). This script makes them again from the npm registry and checks them:

    python scripts/vendor_web.py --refresh   # npm install the pinned versions in a temporary folder, rewrite vendor/
    python scripts/vendor_web.py --check     # every recorded file present with its sha256 (offline; scripts/build_all.sh)
    python scripts/vendor_web.py --check --npm   # also rebuild from npm and compare the contents (.ci/run; needs npm)

Files: ``ort.wasm.bundle.min.mjs`` (onnxruntime-web's wasm-only ES module, its loader inlined),
``ort-wasm-simd-threaded.wasm.gz`` (its WebAssembly binary, gzip; the page inflates it with the browser's
DecompressionStream and hands it to ``ort.env.wasm.wasmBinary``, so nothing is fetched), ``three.min.mjs``
(the parts of three.js the voxel view uses, bundled and minified by esbuild, licence header kept) and both
licences (MIT).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "plugins" / "export" / "aa_export" / "web" / "vendor"
MANIFEST = VENDOR / "VENDORED.json"
PACKAGES = {"onnxruntime-web": "1.31.1", "three": "0.187.0"}
ESBUILD = "0.28.2"  # the bundler of three.min.mjs (not shipped)
THREE_NAMES = ["WebGLRenderer", "Scene", "PerspectiveCamera", "AmbientLight", "DirectionalLight", "InstancedMesh", "BoxGeometry",
               "MeshLambertMaterial", "Matrix4", "Color", "SRGBColorSpace"]


MIT = """MIT License

Copyright (c) {holder}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content(path: Path) -> bytes:
    """A vendored file's content (a .gz file's, inflated)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def build(into: Path) -> dict:
    """npm install the pinned packages in a temporary folder and write the vendored files into ``into``; the manifest."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("vendor_web: npm is not installed (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "package.json").write_text('{"name": "aa-export-vendor", "private": true}\n')
        specs = [f"{name}@{version}" for name, version in PACKAGES.items()] + [f"esbuild@{ESBUILD}"]
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", *specs], cwd=work, check=True)
        modules = work / "node_modules"
        ort, three = modules / "onnxruntime-web", modules / "three"
        into.mkdir(parents=True, exist_ok=True)
        made = {}
        bundle = (ort / "dist" / "ort.wasm.bundle.min.mjs").read_text(encoding="utf-8")
        bundle = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", bundle)  # no source map to look for
        (into / "ort.wasm.bundle.min.mjs").write_text(bundle, encoding="utf-8")
        made["ort.wasm.bundle.min.mjs"] = "onnxruntime-web dist/ort.wasm.bundle.min.mjs, its sourceMappingURL line dropped"
        wasm = (ort / "dist" / "ort-wasm-simd-threaded.wasm").read_bytes()
        (into / "ort-wasm-simd-threaded.wasm.gz").write_bytes(gzip.compress(wasm, compresslevel=9, mtime=0))
        made["ort-wasm-simd-threaded.wasm.gz"] = "onnxruntime-web dist/ort-wasm-simd-threaded.wasm, gzip -9"
        entry = work / "three-entry.mjs"
        entry.write_text(f"export {{ {', '.join(THREE_NAMES)} }} from 'three';\n")
        subprocess.run([str(modules / ".bin" / "esbuild"), str(entry), "--bundle", "--minify", "--format=esm", "--legal-comments=inline",
                        f"--outfile={into / 'three.min.mjs'}"], cwd=work, check=True, capture_output=True)
        made["three.min.mjs"] = f"three build/three.module.js: {', '.join(THREE_NAMES)}, bundled by esbuild {ESBUILD} --minify"
        if (ort / "LICENSE").is_file():
            shutil.copyfile(ort / "LICENSE", into / "LICENSE.onnxruntime-web")
            made["LICENSE.onnxruntime-web"] = "onnxruntime-web LICENSE (MIT)"
        else:  # the npm package carries none: its package.json says MIT, its bundle's header names the holder
            (into / "LICENSE.onnxruntime-web").write_text(MIT.format(holder="Microsoft Corporation"))
            made["LICENSE.onnxruntime-web"] = "MIT (onnxruntime-web's package.json; holder from its bundle's header), written by this script"
        shutil.copyfile(three / "LICENSE", into / "LICENSE.three")
        made["LICENSE.three"] = "three LICENSE (MIT)"
        packages = {}
        for name in PACKAGES:
            pkg = json.loads((modules / name / "package.json").read_text())
            lock = json.loads((work / "package-lock.json").read_text())["packages"][f"node_modules/{name}"]
            packages[name] = {"version": pkg["version"], "license": pkg.get("license"), "integrity": lock.get("integrity")}
    return {"packages": packages, "files": {name: {"sha256": sha256((into / name).read_bytes()), "content_sha256": sha256(content(into / name)),
                                                   "from": what} for name, what in made.items()}}


def check(npm: bool) -> int:
    if not MANIFEST.is_file():
        print(f"vendor_web: {MANIFEST.relative_to(REPO)} is missing: run python scripts/vendor_web.py --refresh", file=sys.stderr)
        return 1
    manifest = json.loads(MANIFEST.read_text())
    bad = [name for name, info in manifest["files"].items()
           if not (VENDOR / name).is_file() or sha256((VENDOR / name).read_bytes()) != info["sha256"]]
    if bad:
        print(f"vendor_web: vendored files missing or changed: {', '.join(bad)} (python scripts/vendor_web.py --refresh)", file=sys.stderr)
        return 1
    if npm:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = build(Path(tmp))
            differ = [n for n, info in manifest["files"].items() if fresh["files"][n]["content_sha256"] != info["content_sha256"]]
            if differ or fresh["packages"] != manifest["packages"]:
                print(f"vendor_web: the vendored files differ from npm's {PACKAGES}: {', '.join(differ) or 'package records'}",
                      file=sys.stderr)
                return 1
    size = sum((VENDOR / n).stat().st_size for n in manifest["files"])
    print(f"vendor_web: {len(manifest['files'])} vendored files OK ({size / 1e6:.1f} MB)" + (", equal to npm's" if npm else ""))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refresh", action="store_true", help="rebuild vendor/ from npm")
    ap.add_argument("--check", action="store_true", help="check vendor/ against VENDORED.json")
    ap.add_argument("--npm", action="store_true", help="with --check: also rebuild from npm and compare")
    args = ap.parse_args()
    if args.refresh:
        for old in VENDOR.glob("*"):
            old.unlink()
        manifest = build(VENDOR)
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"vendor_web: wrote {len(manifest['files'])} files into {VENDOR.relative_to(REPO)}")
        return 0
    return check(args.npm)


if __name__ == "__main__":
    sys.exit(main())
