"""The supervisor board in a real headless Chromium: live calls, waiting callers and an
agent's status change reach the board through server-sent events within 1 s."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from ivr.domain.calllog import CallAnswered, CallEnded

LIVE_WITHIN = 1.0  # seconds from the database write to the browser's screen

# A page reloading under a wait makes elements stale: look again, do not fail.
STALE = (StaleElementReferenceException,)


def seat_state(driver, seat: str) -> str:
    return driver.execute_script(
        "var e = document.getElementById('seat-' + arguments[0]);"
        "return e ? e.getAttribute('data-state') : null;",
        seat,
    )


def waiting_uids(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#waiting tbody tr'))"
        ".map(function (r) { return r.getAttribute('data-uid'); });"
    )


def until(driver, condition, within: float = LIVE_WITHIN) -> float:
    """Seconds until `condition(driver)` holds; fails after `within` s."""
    start = time.monotonic()
    WebDriverWait(driver, within, poll_frequency=0.05, ignored_exceptions=STALE).until(condition)
    return time.monotonic() - start


def open_board(browser, sign_in, web_server, lang="en"):
    board = browser(lang)
    sign_in(board, web_server.url, "lead")
    WebDriverWait(board, 10, ignored_exceptions=STALE).until(
        lambda d: d.current_url.endswith("/board")
    )
    WebDriverWait(board, 10, ignored_exceptions=STALE).until(
        lambda d: d.find_element(By.ID, "k-live").get_attribute("data-live") == "live"
    )
    return board


def test_calls_appear_on_the_board_and_leave_on_hang_up(
    web_runtime, web_users, web_server, browser, sign_in, calls, t0, artifacts, web_backend
) -> None:
    board = open_board(browser, sign_in, web_server)
    assert seat_state(board, "seat2") == "available"

    # A caller waits in the enquiries queue ...
    uid = calls.call(t0 - timedelta(seconds=30), caller="13800000001", ended=False)
    until(board, lambda d: waiting_uids(d) == [uid])
    assert "138****0001" in board.find_element(By.ID, "waiting").text
    # ... chen answers at seat2 ...
    web_runtime.calls.record(CallAnswered(uid, t0, "seat2", "chen"))
    until(board, lambda d: seat_state(d, "seat2") == "on_call")
    assert waiting_uids(board) == []
    card = board.find_element(By.ID, "seat-seat2").text
    assert "138****0001" in card and "13800000001" not in card
    board.save_screenshot(str(artifacts / f"board-{web_backend}.png"))
    # ... and the caller hangs up: the call leaves the board.
    web_runtime.calls.record(CallEnded(uid, t0 + timedelta(seconds=5), "16"))
    until(board, lambda d: seat_state(d, "seat2") == "available")
    until(board, lambda d: d.find_element(By.ID, "k-offered").text == "1 / 1")


def test_agent_status_change_appears_on_the_board(
    web_runtime, web_users, web_server, browser, sign_in, t0
) -> None:
    web_runtime.clock.at = t0.replace(hour=14)  # zhao on shift too: going away is allowed
    for who in ("lead", "chen", "li", "zhang", "liu", "zhao"):
        web_runtime.presence_repo.set_agent_state(who, "available", "", web_runtime.clock())
    board = open_board(browser, sign_in, web_server)
    agent = browser()
    sign_in(agent, web_server.url, "li")
    WebDriverWait(agent, 10, ignored_exceptions=STALE).until(
        lambda d: d.current_url.endswith("/agent")
    )
    Select(agent.find_element(By.ID, "away-reason")).select_by_visible_text("meal")
    agent.find_element(By.ID, "set-away").click()
    start = time.monotonic()
    WebDriverWait(board, LIVE_WITHIN, poll_frequency=0.05, ignored_exceptions=STALE).until(
        lambda d: seat_state(d, "seat3") == "away"
    )
    assert time.monotonic() - start < LIVE_WITHIN
    assert "meal" in board.find_element(By.ID, "seat-seat3").text.lower()
    assert agent.find_element(By.ID, "my-state").text == "away"
    agent.find_element(By.ID, "set-available").click()
    until(board, lambda d: seat_state(d, "seat3") == "available")
    agent.find_element(By.ID, "sign-out").click()
    until(board, lambda d: seat_state(d, "seat3") == "signed_out")


def test_refused_away_request_is_shown_to_the_agent(
    web_runtime, web_users, web_server, browser, sign_in
) -> None:
    for who in ("lead", "chen", "li", "zhang", "liu"):
        web_runtime.presence_repo.set_agent_state(who, "available", "", web_runtime.clock())
    agent = browser()
    sign_in(agent, web_server.url, "chen")
    WebDriverWait(agent, 10, ignored_exceptions=STALE).until(
        lambda d: d.current_url.endswith("/agent")
    )
    agent.find_element(By.ID, "set-away").click()
    WebDriverWait(agent, 10, ignored_exceptions=STALE).until(
        lambda d: "Refused" in d.find_element(By.TAG_NAME, "main").text
    )
    assert agent.find_element(By.ID, "my-state").text == "available"


@pytest.mark.parametrize(
    ("lang", "words", "not_words"),
    [
        ("zh-CN", ("当前排队", "空闲", "离席 · 用餐", "当班", "实时"), ("Waiting", "available")),
        ("en", ("Waiting now", "available", "away · meal", "on shift", "live"), ("排队", "空闲")),
    ],
)
def test_board_in_each_language(
    web_runtime, web_users, web_server, browser, sign_in, artifacts, lang, words, not_words
) -> None:
    """The board as the browser's language asks; a screenshot of each goes to the artifacts."""
    for who in ("lead", "chen", "li", "zhang", "liu"):
        web_runtime.presence_repo.set_agent_state(who, "available", "", web_runtime.clock())
    web_runtime.presence_repo.set_agent_state("zhao", "away", "meal", web_runtime.clock())
    board = open_board(browser, sign_in, web_server, lang)
    until(board, lambda d: seat_state(d, "seat6") == "away", within=5)
    assert board.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
    text = board.find_element(By.TAG_NAME, "main").text.lower()  # CSS capitalises some
    shot = artifacts / f"board-{lang}.png"
    board.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    for w in words:
        assert w.lower() in text, (lang, w)
    for w in not_words:
        assert w.lower() not in text, (lang, w)
