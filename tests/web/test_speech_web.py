"""Speech input on the board and in reports, both databases: the share of menu
choices made by speech and the spoken attempts not understood, on the board's
snapshot (and its zh-CN label) and in the report API."""

from __future__ import annotations

from datetime import timedelta

from ivr.domain.calllog import CallStarted, MenuStep
from web import board_data
from web.settings import WebSettings


def spoken_calls(rt, t0) -> None:
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    rt.calls.record_many(
        [
            CallStarted("sp-1", at(0), "13800000001", source="fastagi"),
            MenuStep("sp-1", 1, at(1), "main", "invalid", "", "", "speech", "[unk]", 0.3),
            MenuStep("sp-1", 2, at(2), "main", "key", "1", "", "speech", "咨询", 0.9),
            CallStarted("sp-2", at(10), "13800000002", source="fastagi"),
            MenuStep("sp-2", 1, at(11), "main", "key", "3", "", "key"),
        ]
    )


def test_the_board_shows_the_share_chosen_by_speech_and_the_failures(
    web_runtime, t0, client, web_users, login
) -> None:
    spoken_calls(web_runtime, t0)
    with web_runtime.sessions() as s:
        today = board_data.snapshot(web_runtime, WebSettings(), s, t0 + timedelta(minutes=5))[
            "today"
        ]
    assert (today["menu_choices"], today["speech_share"], today["speech_failures"]) == (2, 0.5, 1)
    login(client, "boss")
    html = client.get("/board", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "语音选择（未识别）" in html and 'id="k-speech"' in html


def test_the_report_counts_speech(web_runtime, t0, client, web_users, login) -> None:
    spoken_calls(web_runtime, t0)
    login(client, "boss")
    rep = client.get("/api/reports?period=day&from=2026-11-23&to=2026-11-23").get_json()
    assert rep["speech"] == {"menu_choices": 2, "spoken": 1, "share": 0.5, "failures": 1}
