"""A test-only unit kind whose behaviour is scripted: succeed, fail retryably, fail for good,
or kill its own worker process. Registered on import (forked pool workers inherit it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sovereval.errors import BackendError, InputError
from sovereval.execution.units import digest, register_unit_kind


@dataclass(frozen=True)
class ScriptedUnit:
    kind: ClassVar[str] = "test.scripted"

    n: int
    behaviour: str = "ok"
    """ok | flaky:<k> (BackendError on the first k attempts) | bad | crash (first attempt exits)"""
    state_dir: str = ""

    @property
    def key(self) -> str:
        return digest({"kind": self.kind, "n": self.n, "behaviour": self.behaviour})

    @property
    def label(self) -> str:
        return f"unit {self.n}"

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "behaviour": self.behaviour, "state_dir": self.state_dir}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScriptedUnit:
        return cls(int(data["n"]), str(data["behaviour"]), str(data["state_dir"]))


def _attempt(unit: ScriptedUnit) -> int:
    """Count attempts in a file per unit (shared by threads and processes)."""
    path = Path(unit.state_dir) / f"{unit.n}.attempts"
    with path.open("a") as fh:
        fh.write("x")
    return len(path.read_text())


def run_scripted(unit: ScriptedUnit) -> dict[str, Any]:
    if unit.behaviour.startswith("flaky:"):
        if _attempt(unit) <= int(unit.behaviour.split(":")[1]):
            raise BackendError(f"scripted server failure for unit {unit.n}")
    elif unit.behaviour == "bad":
        raise InputError(f"unit {unit.n} is malformed by design")
    elif unit.behaviour == "crash" and _attempt(unit) == 1:
        os._exit(17)  # the worker process dies without answering
    return {"n": unit.n, "square": unit.n * unit.n}


register_unit_kind(ScriptedUnit.kind, ScriptedUnit.from_json, run_scripted)
