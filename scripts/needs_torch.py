"""Exit 0 when a pip installation report plans to install PyTorch, 1 otherwise.

The Makefile resolves an install first (``pip install --dry-run --report PLAN``) and, when torch
is among what would be installed -- directly or through a dependency such as lm-eval -- installs
the CPU build of PyTorch before the real install, so that nothing pulls a CUDA build:

    python scripts/needs_torch.py PLAN.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: needs_torch.py PIP_REPORT.json", file=sys.stderr)
        return 2
    report = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    names = {str(item["metadata"]["name"]).lower() for item in report.get("install", [])}
    return 0 if "torch" in names else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
