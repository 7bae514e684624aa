"""The FastAGI `survey` route on a real socket against a scripted Asterisk (the fake
of tests/unit/test_fastagi.py): keys, timeouts, a hang-up, the branch switch, and
channel variables of a hostile form."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from unit.test_fastagi import (
    MONDAY_10,
    UID,
    FakeAsterisk,
    ListCallLog,
    call,
    env_block,
    handlers,
    set_variables,
)

from ivr.app.survey import Surveys
from ivr.config import HotlineConfig
from ivr.domain.calllog import CallEnded
from ivr.domain.survey import SurveyOutcome, SurveyResult


class Store:
    def __init__(self) -> None:
        self.rows: list[SurveyResult] = []

    def record(self, result: SurveyResult) -> bool:
        self.rows.append(result)
        return True


def survey_call(
    cfg: HotlineConfig, asterisk: FakeAsterisk, **env: str
) -> tuple[list[str], Store, ListCallLog, list[str]]:
    log, store, flagged = ListCallLog(), Store(), []
    h = handlers(cfg, log)

    def agent_of(seat: str) -> str:
        agent = cfg.roster.agent_by_seat(seat)
        return agent.id if agent else ""

    h.surveys = Surveys(cfg.survey, store, flagged.append, log, lambda: MONDAY_10, agent_of)
    lines = call(h.routes(), asterisk, env_block(agi_network_script="survey", **env))
    return lines, store, log, flagged


def answered(**more: str) -> dict[str, str]:
    return {
        "HOTLINE_CALL_ID": UID,
        "HOTLINE_QUEUE": "enquiries",
        "HOTLINE_LANG": "en",
        "HOTLINE_SURVEY_SEAT": "PJSIP/seat3",
        **more,
    }


def test_a_score_is_stored_and_told_to_the_dialplan(sample_config: HotlineConfig) -> None:
    lines, store, log, flagged = survey_call(
        sample_config, FakeAsterisk(keys=["4"], variables=answered())
    )
    assert [r.score for r in store.rows] == [4]
    row = store.rows[0]
    assert (row.call_uid, row.agent_id, row.seat, row.branch, row.language) == (
        UID,
        "li",
        "seat3",
        "enquiries",
        "en",
    )
    assert ("HOTLINE_SURVEY", "scored") in set_variables(lines)
    assert any(line.startswith('GET DATA "hotline/en/survey_ask"') for line in lines)
    assert [type(e) for e in log.events] == [CallEnded]  # the talk ended when the seat hung up
    assert flagged == []


def test_a_dialled_seat_channel_names_the_seat(sample_config: HotlineConfig) -> None:
    variables = answered(HOTLINE_SURVEY_SEAT="PJSIP/seat2-0000002a")
    _, store, _, _ = survey_call(sample_config, FakeAsterisk(keys=["5"], variables=variables))
    assert store.rows[0].seat == "seat2" and store.rows[0].agent_id == "chen"


def test_not_resolved_is_flagged(sample_config: HotlineConfig) -> None:
    lines, store, _, flagged = survey_call(
        sample_config, FakeAsterisk(keys=["0"], variables=answered())
    )
    assert store.rows[0].outcome is SurveyOutcome.NOT_RESOLVED and flagged == [UID]
    assert ("HOTLINE_SURVEY", "not_resolved") in set_variables(lines)


def test_invalid_then_timeout_is_no_answer(sample_config: HotlineConfig) -> None:
    lines, store, _, _ = survey_call(
        sample_config, FakeAsterisk(keys=["9", "T"], variables=answered())
    )
    assert store.rows[0].outcome is SurveyOutcome.NO_ANSWER and store.rows[0].keys == "9"
    played = [line.split('"')[1] for line in lines if line.startswith(("GET DATA", "STREAM"))]
    assert played == ["hotline/en/survey_ask", "hotline/en/survey_invalid", "hotline/en/survey_ask"]


def test_a_key_during_the_apology_is_the_answer(sample_config: HotlineConfig) -> None:
    asterisk = FakeAsterisk(keys=["T"], during_stream=["3"], variables=answered())
    _, store, _, _ = survey_call(sample_config, asterisk)
    assert store.rows[0].score == 3  # STREAM FILE's key is not swallowed


@pytest.mark.parametrize("how", ["H", "X"])
def test_a_hang_up_during_the_survey_is_left(sample_config: HotlineConfig, how: str) -> None:
    _, store, _, _ = survey_call(sample_config, FakeAsterisk(keys=["8", how], variables=answered()))
    # The fake's side is done when the connection drops; the handler records "left"
    # in a worker thread submitted at once (the server stopping, then asyncio.run
    # ending, must not cancel it before it starts: that was a flake under load).
    deadline = time.monotonic() + 10
    while not store.rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.outcome for r in store.rows] == [SurveyOutcome.LEFT]
    assert store.rows[0].keys == "8"
    assert store.rows[0].ended_at - store.rows[0].started_at >= timedelta(0)


def test_a_branch_with_the_survey_off_asks_nothing(sample_config: HotlineConfig) -> None:
    variables = answered(HOTLINE_QUEUE="emergency")
    lines, store, log, _ = survey_call(sample_config, FakeAsterisk(keys=["5"], variables=variables))
    assert store.rows == [] and log.events == []
    assert not any(line.startswith(("GET DATA", "STREAM", "SET")) for line in lines)


@pytest.mark.parametrize(
    "variables",
    [
        answered(HOTLINE_SURVEY_SEAT=""),  # not answered
        answered(HOTLINE_SURVEY_SEAT="SIP/seat3"),
        answered(HOTLINE_SURVEY_SEAT="PJSIP/seat3;rm -rf"),
        answered(HOTLINE_SURVEY_SEAT="PJSIP/" + "s" * 200),
        answered(HOTLINE_QUEUE="enquiries\x00"),
        answered(HOTLINE_QUEUE="../../etc"),
    ],
)
def test_hostile_channel_variables_mean_no_survey(
    sample_config: HotlineConfig, variables: dict[str, str]
) -> None:
    lines, store, _, _ = survey_call(sample_config, FakeAsterisk(keys=["5"], variables=variables))
    assert store.rows == []
    assert not any(line.startswith("GET DATA") for line in lines)


@pytest.mark.parametrize("uid", ["", " ", "\x00"], ids=["empty", "blank", "nul"])
def test_a_survey_without_a_call_id_makes_no_record(sample_config: HotlineConfig, uid: str) -> None:
    """Neither HOTLINE_CALL_ID nor agi_uniqueid: the survey's CallEnded and its row would
    be keyed by no call (as the menu's events would: the hotline route refuses it)."""
    variables = {k: v for k, v in answered().items() if k != "HOTLINE_CALL_ID"}
    asterisk = FakeAsterisk(keys=["5"], variables=variables)
    lines, store, log, _ = survey_call(sample_config, asterisk, agi_uniqueid=uid)
    assert store.rows == [] and log.events == []
    assert not any(line.startswith("GET DATA") for line in lines)


def test_a_tampered_language_falls_back_to_the_default(sample_config: HotlineConfig) -> None:
    variables = answered(HOTLINE_LANG="../../../x")
    lines, store, _, _ = survey_call(sample_config, FakeAsterisk(keys=["5"], variables=variables))
    assert store.rows[0].language == sample_config.site.default_language
    assert any('"hotline/zh-CN/survey_ask"' in line for line in lines)
