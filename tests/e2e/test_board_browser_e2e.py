"""The supervisor board in a real headless Chromium while a real SIPp call goes through
the sandbox Asterisk: the call appears on the board and leaves it on hang-up, each within
1 s of the event the hotline service recorded. A screenshot of the board is kept in
var/test-artifacts/.

(Web side: web/, fixtures `browser`, `sign_in`, `artifacts` from tests/conftest.py.)
"""

from __future__ import annotations

import threading
import uuid

import pytest
from e2e_stack import WEEKDAY_10, Stack
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from lab.sipp import CallResult, place_call
from web import store
from web.app import create_app
from web.security import mask_number
from web.server import WebServer

pytestmark = pytest.mark.e2e

LIVE_WITHIN = 1.0  # seconds from the recorded event to the browser's screen

# A page reloading under a wait makes elements stale: look again, do not fail.
STALE = (StaleElementReferenceException,)


def seat_states(driver) -> dict[str, str]:
    return driver.execute_script(
        "var o = {}; document.querySelectorAll('.seat').forEach(function (e) {"
        " o[e.id.slice(5)] = e.getAttribute('data-state'); }); return o;"
    )


def seat_text(driver, seat: str) -> str:
    return driver.find_element(By.ID, f"seat-{seat}").text


def test_a_sipp_call_appears_on_the_board_and_leaves_on_hang_up(
    stack: Stack, browser, sign_in, artifacts
) -> None:
    rt = stack.runtime
    username = f"sup-{uuid.uuid4().hex[:6]}"
    with rt.sessions.begin() as s:
        store.add_user(s, username, "correct horse battery", "supervisor", None, rt.clock())
    server = WebServer(create_app(rt, secret_key="e2e"), "127.0.0.1", 0).start()
    try:
        stack.at(WEEKDAY_10)
        board = browser()
        sign_in(board, server.url, username)
        WebDriverWait(board, 10, ignored_exceptions=STALE).until(
            lambda d: d.find_element(By.ID, "k-live").text == "live"
        )

        number = f"1370{0 if stack.backend == 'sqlite' else 1}{uuid.uuid4().int % 10**6:06d}"
        result: list[CallResult] = []
        caller = threading.Thread(
            target=lambda: result.append(place_call("1", number, hold_ms=5000, timeout_s=40))
        )
        caller.start()
        try:
            WebDriverWait(board, 20, poll_frequency=0.05, ignored_exceptions=STALE).until(
                lambda d: mask_number(number) in d.find_element(By.ID, "seats").text
            )
            seen_at = rt.clock()
            rec = stack.call_record(number, ended=False)
            seat = rec.answered_seat
            assert seat is not None and rec.answered_at is not None
            assert seat_states(board)[seat] == "on_call"
            assert (seen_at - rec.answered_at).total_seconds() < LIVE_WITHIN
            assert number not in seat_text(board, seat)  # masked on the wall screen
            board.save_screenshot(str(artifacts / f"board-sipp-{stack.backend}.png"))

            WebDriverWait(board, 20, poll_frequency=0.05, ignored_exceptions=STALE).until(
                lambda d: seat_states(d)[seat] != "on_call"
            )
            gone_at = rt.clock()
            ended = stack.call_record(number)
            assert ended.ended_at is not None and ended.outcome.value == "answered"
            assert (gone_at - ended.ended_at).total_seconds() < LIVE_WITHIN
            assert mask_number(number) not in board.find_element(By.ID, "seats").text
        finally:
            caller.join(60)
        assert result and result[0].ok, result
    finally:
        server.stop()
