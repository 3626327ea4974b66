"""The ``sovereval provenance`` command-line contract, which scripts depend on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sovereval.competition import service as svc
from sovereval.competition.rules import default_ruleset
from sovereval.provenance import variants
from sovereval.provenance.synthetic import splice, synthetic_llama
from sovereval.store.db import Store
from tests.cli.test_cli import run

HOSTILE = Path(__file__).resolve().parents[1] / "provenance" / "formats" / "hostile"
KEYS = {"verdict", "derivation", "components", "evidence"}
COMPONENT_KEYS = {"name", "verdict", "p_value", "z", "matched_fraction", "layer_map"}


def _save(src, path: Path) -> Path:  # type: ignore[no-untyped-def]
    save_file({n: np.ascontiguousarray(src.read(n)) for n in src.infos()}, str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(11)
    public = synthetic_llama(rng, layers=4, vision_layers=3)  # a public model with a vision tower
    team = synthetic_llama(rng, layers=4, vision_layers=3)  # the team's own decoder and tower...
    copied = splice(team, public, "visual.")  # ...but the vision tower copied from the public model
    return {
        "public": _save(public, d / "public.safetensors"),
        "team": _save(team, d / "team.safetensors"),
        "copied": _save(copied, d / "copied.safetensors"),
        "tuned": _save(variants.finetune(public, 0.2, rng), d / "tuned.safetensors"),
    }


def test_compare_json_contract_and_per_component_verdicts(
    models: dict[str, Path], tmp_path: Path
) -> None:
    html = tmp_path / "report.html"
    r = run(
        "provenance",
        "compare",
        str(models["copied"]),
        str(models["public"]),
        "--json",
        "--html",
        str(html),
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= KEYS and out["verdict"] == "derived"
    comps = {c["kind"]: c for c in out["components"]}
    for c in comps.values():
        assert set(c) >= COMPONENT_KEYS
    # Decoder independent, vision encoder copied: reported exactly like that.
    assert comps["text"]["verdict"] == "independent"
    assert comps["vision"]["verdict"] in ("identical", "derived")
    assert out["declared"]["kind"] == "declared"
    page = html.read_text(encoding="utf-8")
    assert "layer-by-layer similarity" in page and "negative control" in page and "<svg" in page


def test_compare_fine_tuned_and_independent(models: dict[str, Path]) -> None:
    r = run("provenance", "compare", str(models["tuned"]), str(models["public"]), "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["verdict"] == "derived" and out["derivation"] == "fine-tuned"
    r = run("provenance", "compare", str(models["team"]), str(models["public"]), "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["verdict"] == "independent" and out["derivation"] is None


@pytest.mark.parametrize(
    "bad",
    [
        "st_header_huge.safetensors",
        "st_is_pickle.safetensors",
        "gguf_huge_array.gguf",
        "pickle.bin",
        "dir_no_weights",
    ],
)
def test_hostile_input_exit_2_one_line(models: dict[str, Path], bad: str) -> None:
    path = HOSTILE / bad
    assert path.exists(), f"hostile fixture {bad} missing"
    r = run("provenance", "compare", str(path), str(models["public"]), "--json")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0 and r.stderr.strip()
    assert r.stdout == ""


def test_run_on_submission_triggers_gate(models: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    st = Store(f"sqlite:///{db}")
    with st.session() as s:
        p = svc.create_programme(s, "P", "", actor="a", now=now)
        c = svc.add_consortium(s, p, "T", "T", [], actor="a", now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor="a", now=now)
        svc.publish_ruleset(s, row, actor="a", now=now)
        r = svc.create_round(
            s,
            p,
            1,
            opens_at=now,
            closes_at=now.replace(month=6),
            advance_slots=1,
            ruleset=row,
            actor="a",
            now=now,
        )
        svc.open_round(s, r, actor="a", now=now)
        sub = svc.register_submission(
            s,
            r,
            c,
            "T-VL",
            artefact=str(models["copied"]),
            actor="a",
            now=now,
            components=[
                {"name": "decoder", "kind": "text"},
                {"name": "vit", "kind": "vision", "declared_origin": "from-scratch"},
            ],
        )
        assert len(sub.files) == 1 and len(sub.files[0]["sha256"]) == 64
    st.dispose()
    out = run(
        "provenance",
        "run",
        "--submission",
        "1",
        "--reference",
        str(models["public"]),
        "--json",
        db=db,
    )
    # Regression: a failed gate exited 0; it exits 3 and says what to run next.
    assert out.returncode == 3, out.stderr
    assert "next: the submission will be disqualified" in out.stderr
    assert "sovereval score compute -r 1" in out.stderr
    (res,) = json.loads(out.stdout)
    assert res["gate_failed"] is True
    failing = [f for f in res["findings"] if f[1]]
    # The copied tower (and its merger/projector, which sits under the same prefix and was never
    # declared) fail the gate; the team's own decoder passes.
    assert {f[0] for f in failing} == {"vision", "projector"}
    assert any("declared 'from-scratch'" in f[2] for f in failing)
    assert any("no such component was declared" in f[2] for f in failing)


def test_run_refuses_an_artefact_changed_since_registration(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """Regression: provenance run analysed bytes that no longer matched the recorded SHA-256."""
    import shutil

    db = tmp_path / "c.db"
    art = tmp_path / "art.safetensors"
    shutil.copy(models["copied"], art)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    st = Store(f"sqlite:///{db}")
    with st.session() as s:
        p = svc.create_programme(s, "P", "", actor="a", now=now)
        c = svc.add_consortium(s, p, "T", "T", [], actor="a", now=now)
        row = svc.create_ruleset(s, p, default_ruleset(), actor="a", now=now)
        svc.publish_ruleset(s, row, actor="a", now=now)
        r = svc.create_round(
            s,
            p,
            1,
            opens_at=now,
            closes_at=now.replace(month=6),
            advance_slots=1,
            ruleset=row,
            actor="a",
            now=now,
        )
        svc.open_round(s, r, actor="a", now=now)
        sub = svc.register_submission(
            s,
            r,
            c,
            "T-VL",
            artefact=str(art),
            actor="a",
            now=now,
            components=[{"name": "decoder", "kind": "text"}],
        )
        (f0,) = sub.files
    st.dispose()
    data = bytearray(art.read_bytes())
    data[-1] ^= 0xFF
    art.write_bytes(bytes(data))
    out = run("provenance", "run", "--submission", "1", "--reference", str(models["public"]), db=db)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f0["sha256"] in out.stderr and "changed since registration" in out.stderr
    import hashlib

    assert hashlib.sha256(bytes(data)).hexdigest() in out.stderr
