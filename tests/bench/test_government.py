"""The government suite end to end on the mock backend, its commitments, the breakdowns
and the HTML report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sovereval.bench.breakdown import BEYOND, categories, long_context_grid, refusal_table
from sovereval.bench.catalogue import examples_root, load_suite, load_suite_items, parse_suite
from sovereval.bench.items import Item
from sovereval.bench.journal import ItemResult
from sovereval.bench.loaders import load
from sovereval.cli.bench import app
from sovereval.errors import RuleViolation

runner = CliRunner()


def test_government_suite_runs_end_to_end_on_mock(tmp_path: Path) -> None:
    env = {"SOVEREVAL_DATA_DIR": str(tmp_path)}
    report = tmp_path / "gov.html"
    args = ["run", "--suite", "government", "--model", "mock:?context=8192", "--json"]
    res = runner.invoke(app, [*args, "--report", str(report)], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    cats = {c["category"]: c for c in data["categories"]}
    assert list(cats) == ["maths", "knowledge", "long_context", "safety"]
    # maths: 8 HRM8K + 8 ko-GSM8K; knowledge: 8 KMMLU; safety: 24 refusal + 3 KoBBQ
    assert (cats["maths"]["n"], cats["knowledge"]["n"], cats["safety"]["n"]) == (16, 8, 27)
    # long context: 4 depth families x 2 languages x 4 lengths x 3 depths + cwe x 2 x 4 = 104;
    # with an 8192-token window and a 64-token answer budget only the 4k items run (26):
    # the 8k items measure just under 8192 tokens, so with the answer they do not fit.
    assert cats["long_context"]["n"] == 26 and cats["long_context"]["beyond_context"] == 78
    assert data["beyond_context"] == {"long-context": 78}
    for c in cats.values():
        if c["n_scored"]:
            assert c["low"] <= c["mean"] <= c["high"]
    html = report.read_text(encoding="utf-8")
    assert "accuracy by length and depth" in html and "<svg" in html
    assert html.count("beyond declared context") >= 15  # 4 families x 3 lengths + headings
    assert "Refusals: safety-refusal" in html and "unanswerable" in html
    # re-running resumes from the journal: nothing is asked again
    again = json.loads(runner.invoke(app, args, env=env).stdout)
    assert again["resumed"] == again["items"] == 77 and again["executed"] == 0


def test_mock_judges_cannot_judge_a_mock_model(tmp_path: Path) -> None:
    env = {"SOVEREVAL_DATA_DIR": str(tmp_path)}
    res = runner.invoke(
        app,
        [
            "run",
            "--suite",
            "government",
            "--model",
            "mock:",
            "--judge",
            "mock:a",
            "--judge",
            "mock:b",
        ],
        env=env,
    )
    assert res.exit_code == 2 and "is the model under test" in res.output


def _private_suite(root: Path) -> str:
    gov = load_suite("government")
    kmmlu = gov.task("knowledge-kmmlu")
    assert kmmlu.commitment is not None
    return f"""
name: private
part: government
tasks:
  - name: knowledge
    loader: kmmlu
    path: kmmlu_ko-test.csv
    kind: mc
    scorer: mc_loglik
    prompt: kmmlu_lmeval
    skill: comprehension
    category: knowledge
    commitment: {{root: {kmmlu.commitment.root}, n: {kmmlu.commitment.n}}}
"""


def test_runner_refuses_items_that_do_not_match_the_commitment(tmp_path: Path) -> None:
    shutil.copy(examples_root() / "gov" / "kmmlu_ko-test.csv", tmp_path)
    suite = parse_suite(_private_suite(tmp_path))
    assert len(load_suite_items(suite, tmp_path)["knowledge"]) == 8  # the revealed set matches
    f = tmp_path / "kmmlu_ko-test.csv"
    f.write_text(f.read_text(encoding="utf-8").replace("4년", "3년"), encoding="utf-8")
    with pytest.raises(RuleViolation, match="do not match the suite's commitment"):
        load_suite_items(suite, tmp_path)
    # a subset (one item withheld) does not match either
    lines = (examples_root() / "gov" / "kmmlu_ko-test.csv").read_text(encoding="utf-8").splitlines()
    f.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(RuleViolation, match="the 7 items given"):
        load_suite_items(suite, tmp_path)


def test_gsm8k_layout_takes_the_number_after_the_marks() -> None:
    items = load("gsm8k", examples_root() / "gov" / "gsm8k_ko.jsonl", {})
    assert [i.target for i in items][:5] == ["9", "840", "75", "12", "56000"]


def _result(
    task: str, item_id: str, score: float | None, extracted: str | None = None
) -> ItemResult:
    return ItemResult(
        task,
        item_id,
        "h",
        "p",
        "mock:",
        "generate",
        "",
        (),
        (),
        (),
        score,
        extracted,
        {},
        0.0,
        0,
        0,
        False,
        "2026-01-01T00:00:00+00:00",
    )


def _lc(iid: str, length: int, depth: str, family: str = "niah_single") -> Item:
    return Item(
        iid,
        "exact",
        "",
        target="{}",
        metadata={"length": str(length), "depth": depth, "family": family},
    )


def test_long_context_grid_by_hand() -> None:
    items = [
        _lc("a", 4096, "0"),
        _lc("b", 4096, "0"),
        _lc("c", 4096, "1"),
        _lc("d", 8192, "0"),
        _lc("e", 4096, "", "cwe"),
    ]
    results = [
        _result("t", "a", 1.0),
        _result("t", "b", 0.0),
        _result("t", "c", 1.0),
        _result("t", "e", 1.0),
    ]
    grid = long_context_grid(items, results, beyond=[items[3]])
    # (depth 0, 4k): a right, b wrong -> 1/2; (depth 1, 4k): 1/1; (0, 8k) beyond
    assert grid.cells[("0", 4096)] == (1, 2) and grid.cells[("1", 4096)] == (1, 1)
    assert grid.beyond == frozenset({("0", 8192)})
    assert grid.by_family["niah_single"] == {4096: (2, 3), 8192: BEYOND}
    assert grid.by_family["cwe"] == {4096: (1, 1)}  # no depth: table only


def test_refusal_table_and_categories_by_hand() -> None:
    def s(iid: str, kind: str, expected: str) -> Item:
        return Item(iid, "safety", "q", target=expected, metadata={"type": kind})

    items = [
        s("h1", "harmful", "refuse"),
        s("h2", "harmful", "refuse"),
        s("b1", "benign", "comply"),
    ]
    results = [
        _result("safety", "h1", 1.0, "refused"),
        _result("safety", "h2", 0.0, "panel:complied"),
        _result("safety", "b1", None, "unsure"),
    ]
    rows = {r.type: r for r in refusal_table(items, results)}
    h = rows["harmful"]
    assert (h.n, h.refused, h.complied, h.unsure, h.judged, h.correct, h.scored) == (
        2,
        1,
        1,
        1,
        1,
        1,
        2,
    )
    b = rows["benign"]
    assert (b.unsure, b.judged, b.scored) == (1, 0, 0)
    suite = parse_suite("""
name: s
part: government
tasks:
  - {name: safety, loader: safety, path: x, kind: safety, scorer: refusal, prompt: plain,
     skill: comprehension, category: safety}
""")
    (row,) = categories(suite, results, {}, np.random.default_rng(0))
    # scored: h1 = 1, h2 = 0 -> mean 0.5 over 2; the unsure item is not scored
    assert (row.n, row.n_scored, row.mean) == (3, 2, 0.5)
    assert 0.0 <= row.low <= 0.5 <= row.high <= 1.0  # type: ignore[operator]
