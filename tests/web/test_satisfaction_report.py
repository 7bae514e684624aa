"""Satisfaction in the reports (REQUIREMENTS §6.1): per agent, branch and period, in the
JSON API and on the reports page beside its chart, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ivr.domain.survey import SurveyOutcome, SurveyResult


def survey(uid, at, agent, branch, outcome, score=None):
    return SurveyResult(
        call_uid=uid,
        branch=branch,
        seat=f"seat-{agent}",
        agent_id=agent,
        language="zh-CN",
        outcome=outcome,
        score=score,
        keys=str(score or ""),
        started_at=at,
        ended_at=at + timedelta(seconds=8),
        scale_high=5,
    )


@pytest.fixture
def surveyed(web_runtime, t0):
    repo = web_runtime.surveys
    day = t0.replace(hour=10)
    s = SurveyOutcome
    for row in [
        survey("s1", day, "chen", "enquiries", s.SCORED, 5),
        survey("s2", day, "chen", "enquiries", s.SCORED, 3),
        survey("s3", day, "li", "complaints", s.SCORED, 4),
        survey("s4", day, "li", "complaints", s.NOT_RESOLVED),
        survey("s5", day, "li", "repairs", s.LEFT),
        survey("s6", t0 - timedelta(days=6), "chen", "enquiries", s.SCORED, 1),
        survey("s7", day, "chen", "enquiries", s.NO_ANSWER),
    ]:
        assert repo.record(row)


def test_report_api_has_satisfaction_by_agent_branch_and_period(
    client, web_users, login, surveyed
) -> None:
    login(client, "boss")
    r = client.get("/api/reports?period=day&from=2026-11-17&to=2026-11-23")
    assert r.status_code == 200, r.get_json()
    sat = r.get_json()["satisfaction"]
    assert sat["scale"] == {"low": 1, "high": 5, "satisfied_from": 4}
    team = sat["team"]
    assert (team["offered"], team["scored"], team["satisfied"]) == (7, 4, 2)
    assert (team["not_resolved"], team["left"], team["no_answer"]) == (1, 1, 1)
    assert team["rate"] == pytest.approx(0.5) and team["average"] == pytest.approx(13 / 4)
    agents = {a["agent"]: a for a in sat["agents"]}
    assert agents["chen"]["scored"] == 3 and agents["chen"]["rate"] == pytest.approx(1 / 3)
    assert agents["li"]["rate"] == 1.0 and agents["li"]["not_resolved"] == 1
    branches = {b["branch"]: b for b in sat["branches"]}
    assert branches["complaints"]["average"] == 4.0 and branches["repairs"]["scored"] == 0
    periods = {p["start"]: p for p in sat["periods"]}
    assert periods["2026-11-17"]["scored"] == 1 and periods["2026-11-23"]["scored"] == 3
    # a week report counts both days in their ISO weeks
    weeks = client.get("/api/reports?period=week&from=2026-11-17&to=2026-11-23").get_json()
    assert sum(p["scored"] for p in weeks["satisfaction"]["periods"]) == 4


def test_report_page_shows_the_satisfaction_table_and_chart(
    client, web_users, login, surveyed
) -> None:
    login(client, "boss")
    html = client.get("/reports?period=day&from=2026-11-17&to=2026-11-23").get_data(as_text=True)
    section = html[html.index('id="satisfaction"') :]
    assert "<svg" in section[: section.index('id="sat-by-agent"')]  # the chart beside
    table = section[section.index('id="sat-by-agent"') : section.index("</table>")]
    assert "chen" in table and "33.3%" in table and "100.0%" in table
    zh = client.get(
        "/reports?period=day&from=2026-11-17&to=2026-11-23",
        headers={"Accept-Language": "zh-CN"},
    ).get_data(as_text=True)
    assert "满意度" in zh and "满意率" in zh


def test_an_empty_range_has_no_rate(client, web_users, login) -> None:
    login(client, "boss")
    sat = client.get("/api/reports?period=month").get_json()["satisfaction"]
    assert sat["team"]["offered"] == 0 and sat["team"]["rate"] is None
    assert sat["agents"] == [] and sat["periods"] == []


def test_the_board_shows_todays_satisfaction_rate(client, web_users, login, surveyed) -> None:
    login(client, "lead")
    text = client.get("/board/stream?once=1").get_data(as_text=True)
    event = next(block for block in text.split("\n\n") if block.startswith("event: board"))
    today = json.loads(event.split("data: ", 1)[1])["today"]
    # Today (t0's day): chen 5, 3; li 4 scored; li not resolved; the rest not scored.
    assert today["surveys_scored"] == 3 and today["not_resolved"] == 1
    assert today["satisfaction_rate"] == pytest.approx(2 / 3)
    page = client.get("/board").get_data(as_text=True)
    assert 'id="k-sat">66.7% (1)<' in page
