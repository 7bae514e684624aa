"""A reload during calls in progress, through the real sandbox Asterisk on SQLite and
PostgreSQL (issue 10 item 8).

One caller talks to a seat and another is still in the menu when the configuration
changes: key 1 now goes to complaints instead of enquiries, the repairs queue's
weight (its branch priority) goes from 3 to 7, and the admission limit (a dialplan
global) from 200 to 150, so Asterisk reloads its queues and its dialplan. Both calls
stay up and end with their records; the caller in the menu keeps the menu it began
with. The next call follows the new routing, Asterisk shows the new weight and
limit, and a refused configuration then
leaves everything as it was. The sample configuration is reloaded again at the end
with `hotline reload` (over the service's control socket), so the stack is as the
other tests expect it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from config_files import copy_sample, edit
from e2e_stack import REPO, WEEKDAY_10, Stack

from cli.main import main
from ivr.adapters.asterisk.names import GLOBAL_MAX_IN_IVR
from ivr.domain.calllog import Outcome
from ivr.service import ReloadResult
from lab.sipp import place_call

pytestmark = pytest.mark.e2e

_numbers = itertools.count(1)


def caller(stack: Stack) -> str:
    return f"1397{0 if stack.backend == 'sqlite' else 1}{next(_numbers):06d}"


def reload(stack: Stack, directory: Path) -> ReloadResult:
    return stack.service.run(stack.service.service.reload(directory), timeout=60)


def weight(stack: Stack, queue: str) -> str:
    shown = stack.sandbox.rx(f"queue show {queue}")
    return shown.split("W:", 1)[1].split(",", 1)[0]


def max_in_ivr(stack: Stack) -> str:
    shown = stack.sandbox.rx("dialplan show globals")
    return shown.split(f"{GLOBAL_MAX_IN_IVR}=", 1)[1].split()[0]


def answered(stack: Stack, number: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = stack.runtime.calls.latest_from(number)
        if rec is not None and rec.answered_at is not None:
            return
        time.sleep(0.2)
    raise AssertionError(f"{number} was not answered within {timeout}s")


@pytest.fixture
def changed(stack: Stack, tmp_path: Path) -> Iterator[Path]:
    """A copy of the sample with key 1 to complaints, repairs at priority 7 and at most
    150 callers in the IVR; the sample is reloaded afterwards."""
    directory = copy_sample(tmp_path / "config")
    edit(directory, "menu.yaml", '"1": route:enquiries', '"1": route:complaints')
    edit(directory, "routing.yaml", "repairs: {skill: repairs, priority: 3}",
         "repairs: {skill: repairs, priority: 7}")  # fmt: skip
    edit(directory, "hotline.yaml", "max_in_ivr: 200", "max_in_ivr: 150")
    stack.at(WEEKDAY_10)
    try:
        yield directory
    finally:
        back = reload(stack, REPO / "config")
        assert back.ok, back
        assert weight(stack, "repairs") == "3"
        assert max_in_ivr(stack) == "200"


def test_a_reload_keeps_calls_up_and_routes_the_next_call_anew(
    stack: Stack,
    changed: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    talking, in_menu, after = caller(stack), caller(stack), caller(stack)
    assert weight(stack, "repairs") == "3" and max_in_ivr(stack) == "200"
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(place_call, "1", talking, hold_ms=10000, timeout_s=60)
        answered(stack, talking)
        # The second caller is in the menu (its key comes 6 s after the answer).
        second = pool.submit(
            place_call, "1", in_menu, first_key_delay_ms=6000, hold_ms=2000, timeout_s=60
        )
        stack.call_record(in_menu, ended=False)
        result = reload(stack, changed)
        assert result.ok, result
        assert "changed policy, menu, admission" in result.message
        assert result.asterisk == ("reload pbx_config.so: ok", "reload app_queue.so: ok")
        assert stack.runtime.calls.latest_from(in_menu).routed_at is None  # still in the menu
        outcomes = [first.result(), second.result()]
    assert all(r.ok for r in outcomes), outcomes
    assert weight(stack, "repairs") == "7"  # Asterisk's side: queues.conf reloaded ...
    assert max_in_ivr(stack) == "150"  # ... and extensions.conf

    kept = stack.call_record(talking)
    assert kept.branch == "enquiries" and kept.outcome is Outcome.ANSWERED
    assert kept.talk_seconds is not None and kept.talk_seconds > 8  # up through the reload
    began = stack.call_record(in_menu)
    assert began.branch == "enquiries"  # the menu it began with
    assert began.outcome is Outcome.ANSWERED

    # The next call follows the new menu: key 1 is complaints now.
    assert place_call("1", after, hold_ms=1500, timeout_s=30).ok
    rec = stack.call_record(after)
    assert rec.branch == "complaints" and rec.outcome is Outcome.ANSWERED

    # A refused configuration: nothing changes, and the reason names the file and key.
    edit(changed, "routing.yaml", "oncall: true", "oncal: true")
    edit(changed, "menu.yaml", '"1": route:complaints', '"1": route:repairs')
    refused = reload(stack, changed)
    assert not refused.ok and "routing.yaml" in refused.message and "oncal" in refused.message
    # ... and through the command line, which refuses it before asking the service.
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(stack.runtime.config.data_dir))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", stack.runtime.config.database_url)
    assert main(["reload", "--config", str(changed)]) == 2
    assert "oncal" in capsys.readouterr().err
    again = caller(stack)
    assert place_call("1", again, hold_ms=1500, timeout_s=30).ok
    assert stack.call_record(again).branch == "complaints"
    assert weight(stack, "repairs") == "7"

    # The sample again, through `hotline reload` and the service's control socket.
    assert main(["reload", "--config", str(REPO / "config")]) == 0
    out = capsys.readouterr().out
    assert "changed policy, menu, admission" in out and "reload app_queue.so: ok" in out
    assert weight(stack, "repairs") == "3" and max_in_ivr(stack) == "200"
