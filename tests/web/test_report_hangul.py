"""Korean team names in the transparency report's charts stay text (no boxes), so any browser
draws them with its own Korean fonts and the server needs no font packages."""

from __future__ import annotations

import re

from sovereval.report.figures import breakdown_svg, rank_interval_svg


def _team(name: str, rank: int, total: float, decision: str = "advance") -> dict[str, object]:
    cats = {c: {"points": total / 3, "lo": 0.0, "hi": 1.0} for c in ("benchmark", "expert", "user")}
    return {
        "team": name,
        "rank": rank,
        "rank_upper": rank,
        "total": total,
        "total_lo": total - 2,
        "total_hi": total + 2,
        "decision": decision,
        "categories": cats,
    }


def test_korean_team_names_are_text_in_both_report_charts() -> None:
    teams = [_team("결 컨소시엄", 1, 88.0), _team("한빛 AI", 2, 80.0, "eliminate")]
    for svg in (breakdown_svg(teams), rank_interval_svg(teams)):
        labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
        assert "결 컨소시엄" in labels and "한빛 AI" in labels
        assert "Noto Sans KR" in svg  # a Korean font first in the family list


def test_disqualified_teams_get_no_plausible_rank_in_the_report(web: object) -> None:
    from tests.web.conftest import WebEnv

    assert isinstance(web, WebEnv)
    html = web.client.get(f"/programmes/{web.ids['programme']}/report").text
    row = next(r for r in html.split("<tr>") if "Nuri Systems" in r and "Nuri-VL-30B" in r)
    assert '<td class="num">—</td>' in row
    svg = rank_interval_svg([_team("결 컨소시엄", 1, 88.0), _team("Nuri", 2, 81.0, "disqualify")])
    assert "Nuri" not in svg and "결 컨소시엄" in svg
