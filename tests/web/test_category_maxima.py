"""Category maxima on the results table and in the transparency report come from the parts the
round was scored under (the RuleSet's points), not from a hard-coded 40/35/25."""

from __future__ import annotations

import re
from typing import Any

from sovereval.competition import service as svc
from sovereval.report.transparency import render_report, report_data
from sovereval.web import views
from sovereval.web.context import _env
from tests.web.conftest import WebEnv
from tests.web.sample import PROGRAMME

# A rule set worth 50 / 30 / 20 instead of the sample's 40 / 35 / 25.
SCALE = {"benchmark": 50 / 40, "expert": 30 / 35, "user": 20 / 25}


def _rescale(teams: list[dict[str, Any]]) -> None:
    for t in teams:
        for p in t["parts"]:
            p["max_points"] = p["max_points"] * SCALE[p["category"]]


def _headers(html: str) -> list[str]:
    return re.findall(r"(Benchmark|Expert|User) /([0-9.]+)", html)


def test_results_table_and_report_show_the_rule_sets_maxima(web: WebEnv) -> None:
    with web.store.session() as s:
        prog = svc.get_programme(s, PROGRAMME)
        res = views.round_results_public(s, prog, 1)
        assert res is not None
        sample = _env().get_template("_results.html").render(results=res, programme=prog)
        assert _headers(sample) == [("Benchmark", "40"), ("Expert", "35"), ("User", "25")]
        _rescale(res["teams"])
        html = _env().get_template("_results.html").render(results=res, programme=prog)
        data = report_data(s, prog)
    assert _headers(html) == [("Benchmark", "50"), ("Expert", "30"), ("User", "20")]
    scored = [r for r in data["rounds"] if r["scorecard"]]
    assert scored
    for r in scored:
        _rescale(r["scorecard"]["teams"])
    want = [("Benchmark", "50"), ("Expert", "30"), ("User", "20")]
    assert _headers(render_report(data)) == want * len(scored)
