"""The signed state in Twilio's action URLs: what it carries, and every way a token is
refused (altered, another key, too old, another call, of an unknown form)."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from ivr.adapters.twilio.state import (
    MAX_TRACE,
    SALT,
    CallState,
    StateError,
    StateSigner,
)

SID = "CA" + "a" * 32
STATE = CallState(SID, "+8613800000101", "+14155550100", "zh-CN", flow={"node": "main"}, seq=3,
                  trace=tuple(f"step {i}" for i in range(40)))  # fmt: skip


def test_a_state_comes_back_as_it_went_with_the_newest_trace_lines() -> None:
    signer = StateSigner("k")
    back = signer.load(signer.dump(STATE), SID)
    assert back.seq == 3 and back.flow == {"node": "main"} and back.caller == "+8613800000101"
    assert back.trace == STATE.trace[-MAX_TRACE:]


def test_the_token_fits_in_a_url() -> None:
    token = StateSigner("k").dump(STATE)
    assert len(token) < 3000 and all(c.isalnum() or c in "_.-=" for c in token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "a b",
        "é",
        "A" * 3001,
        StateSigner("other").dump(STATE),
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(StateError):
        StateSigner("k").load(token, SID)


def test_a_state_of_another_call_is_refused() -> None:
    signer = StateSigner("k")
    with pytest.raises(StateError, match="another call"):
        signer.load(signer.dump(STATE), "CA" + "b" * 32)


def test_an_old_state_is_refused() -> None:
    token = StateSigner("k").dump(STATE)
    with pytest.raises(StateError, match="SignatureExpired"):
        StateSigner("k", max_age=-1).load(token, SID)


@pytest.mark.parametrize(
    "data",
    [
        {"uid": SID},
        {"uid": SID, "caller": "", "dialed": "", "language": "en", "trace": [], "evil": 1},
        {"uid": SID, "caller": "", "dialed": "", "language": "en", "trace": [], "phase": "x"},
        ["not", "a", "mapping"],
        {"uid": SID, "caller": "", "dialed": "", "language": "en", "trace": [], "flow": [1]},
    ],
)
def test_signed_data_of_an_unknown_form_is_refused_not_a_crash(data: object) -> None:
    token = URLSafeTimedSerializer("k", salt=SALT).dumps(data)
    with pytest.raises(StateError):
        StateSigner("k").load(token, SID)
