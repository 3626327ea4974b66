"""Size on disk and install time of a fresh virtual environment per install profile.

Builds the wheel once, then for each profile creates a new venv in a temporary folder and times
``pip install <wheel>[extras]`` as a user (or the Makefile) would: the CPU build of PyTorch first
when the profile pulls torch, then the wheel with its extras. Whether it pulls torch is found
first with ``pip install --dry-run --report`` (the Makefile's plan step, timed apart as "plan s").
Size is what the venv holds on disk (allocated blocks, bytecode that pip compiles included; an
empty venv with pip is measured too, as "empty").

Profiles: ``core`` (``pip install sovereval``), ``demo`` (``sovereval[demo]``, what ``make demo``
installs), ``dev`` (``sovereval[dev]``) and, with ``--test``, ``test`` (what ``make test``
installs). Ratios are against the core measured in the same run. Goals (issue 16): core <= 250 MB;
demo install <= 2 minutes with a warm cache.

    python benchmarks/install_size.py                 # core, demo, dev
    python benchmarks/install_size.py --test          # and the full test profile
    python benchmarks/install_size.py --only core demo
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH = os.environ.get("TORCH", "torch==2.13.0")
PROFILES = {
    "core": "",
    "demo": "demo",
    "dev": "dev",
    "test": "dev,demo,hf,onnx,postgres,models,ray,inspect,hub",
}


def disk_usage(root: Path) -> int:
    """Bytes on disk under ``root`` (allocated blocks; hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_blocks * 512
    return total


def pip(venv: Path, *args: str) -> None:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")


def pulls_torch(venv: Path, target: str, work: Path) -> bool:
    plan = work / "plan.json"
    pip(venv, "install", "--quiet", "--dry-run", "--report", str(plan), target)
    report = json.loads(plan.read_text(encoding="utf-8"))
    return any(i["metadata"]["name"].lower() == "torch" for i in report.get("install", []))


def measure(name: str, wheel: Path, work: Path) -> dict[str, object]:
    venv = work / f"venv-{name}"
    extras = PROFILES[name]
    target = f"{wheel}[{extras}]" if extras else str(wheel)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    t0 = time.perf_counter()
    torch_first = pulls_torch(venv, target, work)
    t1 = time.perf_counter()
    if torch_first:
        pip(venv, "install", "--quiet", TORCH)
    pip(venv, "install", "--quiet", target)
    seconds = time.perf_counter() - t1
    size = disk_usage(venv)
    listing = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    count = len(json.loads(listing.stdout))
    shutil.rmtree(venv)
    return {
        "profile": name,
        "bytes": size,
        "seconds": seconds,
        "plan_seconds": t1 - t0,
        "packages": count,
        "torch": torch_first,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", action="store_true", help="also measure the make-test profile")
    ap.add_argument("--only", nargs="+", choices=sorted(PROFILES), help="profiles to measure")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args()
    names = args.only or ["core", "demo", "dev"] + (["test"] if args.test else [])
    if "core" not in names:
        names = ["core", *names]  # the baseline of every ratio
    with tempfile.TemporaryDirectory(prefix="sovereval-install-") as tmp:
        work = Path(tmp)
        build = subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(REPO)],
            capture_output=True,
            text=True,
            check=False,
        )
        if build.returncode != 0:
            sys.exit(f"python -m build failed (pip install build?)\n{build.stderr[-2000:]}")
        [wheel] = sorted((work / "dist").glob("*.whl"))
        empty = work / "venv-empty"
        subprocess.run([sys.executable, "-m", "venv", str(empty)], check=True)
        empty_bytes = disk_usage(empty)
        shutil.rmtree(empty)
        rows = []
        for name in names:
            row = measure(name, wheel, work)
            rows.append(row)
            print(
                f"  measured {name}: {_mb(row['bytes'])} MB in {row['seconds']:.0f} s",
                file=sys.stderr,
            )
    core = rows[0]
    for row in rows:
        row["added_bytes"] = _int(row["bytes"]) - empty_bytes
        row["size_ratio"] = _int(row["bytes"]) / _int(core["bytes"])
        row["time_ratio"] = _float(row["seconds"]) / _float(core["seconds"])
    if args.json:
        print(json.dumps({"empty_venv_bytes": empty_bytes, "profiles": rows}, indent=2))
        return
    head = ("profile", "size MB", "added MB", "x core", "install s", "x core", "plan s", "pkgs")
    print("{:<8} {:>8} {:>9} {:>7} {:>10} {:>7} {:>7} {:>5}  torch first".format(*head))
    print(f"{'empty':<8} {_mb(empty_bytes):>8} {'':>9} {'':>7} {'':>10} {'':>7} {'':>7} {'':>5}")
    for r in rows:
        print(
            f"{r['profile']!s:<8} {_mb(r['bytes']):>8} {_mb(r['added_bytes']):>9} "
            f"{_float(r['size_ratio']):>7.1f} {_float(r['seconds']):>10.1f} "
            f"{_float(r['time_ratio']):>7.1f} {_float(r['plan_seconds']):>7.1f} "
            f"{r['packages']!s:>5}  {r['torch']}"
        )


def _int(v: object) -> int:
    assert isinstance(v, int)
    return v


def _float(v: object) -> float:
    assert isinstance(v, (int, float))
    return float(v)


def _mb(v: object) -> str:
    return f"{_int(v) / 1e6:.0f}"


if __name__ == "__main__":
    main()
