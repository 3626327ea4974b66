"""scripts/needs_torch.py reads a pip installation report (pip install --dry-run --report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "needs_torch.py"


def _exit_code(tmp_path: Path, names: list[str]) -> int:
    report = {"version": "1", "install": [{"metadata": {"name": n, "version": "1"}} for n in names]}
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(report), encoding="utf-8")
    return subprocess.run([sys.executable, str(SCRIPT), str(plan)], check=False).returncode


def test_torch_in_the_plan_means_cpu_torch_first(tmp_path: Path) -> None:
    assert _exit_code(tmp_path, ["sovereval", "lm_eval", "Torch"]) == 0
    assert _exit_code(tmp_path, ["sovereval", "torchvision", "numpy"]) == 1
    assert _exit_code(tmp_path, []) == 1


def test_usage_error_without_a_report() -> None:
    assert subprocess.run([sys.executable, str(SCRIPT)], check=False).returncode == 2
