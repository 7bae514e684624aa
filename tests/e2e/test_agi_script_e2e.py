"""The process-per-call AGI path under the real sandbox Asterisk, with SIPp calls.

Extension 4001 runs agi_scripts/hotline.py (pyst2 over stdin/stdout, the same
`IvrSession` as FastAGI) and then the route logic of the hotline extension. The
script runs inside Asterisk's chroot: the interpreter, the repository and the
data directory are bind-mounted there for this module only (see
ivr/adapters/asterisk/agi_mounts.py). The keys wait for the interpreter to
start (about a second) before they are sent.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2e_stack import REPO, SUNDAY_10, WEEKDAY_10, Stack

from ivr.adapters.asterisk.templates import AsteriskSettings
from ivr.bootstrap import asterisk_settings
from ivr.dialer import asterisk_conf
from ivr.domain.calllog import Outcome
from lab.agi_mounts import agi_binds, agi_script_extension
from lab.sandbox import mounts_under
from lab.sipp import place_call

pytestmark = pytest.mark.e2e

AGI_EXTENSION = "4001"
# Interpreter start-up and imports come before the first prompt: 0.6 s on a quiet
# machine, several seconds on a loaded one; a key sent earlier is lost. The welcome
# prompt lasts 24 s, so a late first key costs the test time, not correctness.
FIRST_KEY_MS = 8000
ENQUIRY_SEATS = {"seat1", "seat2", "seat3", "seat5"}
_numbers = itertools.count(1)


@dataclass
class AgiLine:
    """Renders the dialplan with (or without) the AGI-script extension."""

    stack: Stack
    plain: AsteriskSettings

    def render(self, settings: AsteriskSettings) -> None:
        box = self.stack.sandbox
        box.render(settings)
        asterisk_conf.install_into(box.config_dir, self.stack.runtime.config.callbacks.dialer)
        box.rx("dialplan reload")

    def at(self, instant: str) -> None:
        """The hotline's clock and the script's pinned clock (HOTLINE_NOW) at instant."""
        self.stack.at(instant)
        config = self.stack.runtime.config
        env = {
            "HOTLINE_DATABASE_URL": config.database_url,
            "HOTLINE_DATA_DIR": str(config.data_dir),
            "HOTLINE_NOW": instant,
        }
        spec = agi_script_extension(AGI_EXTENSION, REPO / "config", env)
        self.render(dataclasses.replace(self.plain, agi_script=spec))
        shown = self.stack.sandbox.rx(f"dialplan show {AGI_EXTENSION}@hotline-inbound")
        assert instant in shown and "hotline.py" in shown, shown


@pytest.fixture(scope="module")
def agi(stack: Stack) -> Iterator[AgiLine]:
    line = AgiLine(stack, asterisk_settings(stack.runtime.config))
    box = stack.sandbox
    if "Running" not in box.rx("module show like func_env"):  # started before modules.conf had it
        box.rx("module load func_env.so")
    with box.bind_mounts(agi_binds(stack.runtime.config.data_dir, REPO / "config")) as points:
        try:
            yield line
        finally:
            line.render(line.plain)  # the shared stack's dialplan again
    assert not set(points) & set(mounts_under(box.root))  # nothing of the host left inside


def caller(stack: Stack) -> str:
    return f"1392{0 if stack.backend == 'sqlite' else 1}{next(_numbers):06d}"


def test_weekday_key1_through_the_agi_script_reaches_an_enquiry_seat(
    stack: Stack, agi: AgiLine
) -> None:
    agi.at(WEEKDAY_10)
    number = caller(stack)
    result = place_call(
        "1", number, extension=AGI_EXTENSION, first_key_delay_ms=FIRST_KEY_MS, hold_ms=1500
    )
    assert result.ok, result
    rec = stack.call_record(number)
    assert rec.source == "agi" and rec.dialed == AGI_EXTENSION
    assert rec.route_kind == "queue" and rec.branch == "enquiries"
    assert rec.outcome is Outcome.ANSWERED
    assert rec.answered_seat in ENQUIRY_SEATS
    assert stack.seats.seat_of(number) == rec.answered_seat
    assert [s.event for s in rec.steps][:2] == ["start", "key"]
    assert rec.decision is not None and any("free" in t for t in rec.decision.trace)


def test_hangup_mid_menu_of_the_agi_script_is_abandoned_in_menu(stack: Stack, agi: AgiLine) -> None:
    agi.at(WEEKDAY_10)
    number = caller(stack)
    result = place_call("", number, extension=AGI_EXTENSION, hangup_after_ms=4000, timeout_s=20)
    assert result.hung_up_by == "caller"
    rec = stack.call_record(number)
    assert rec.source == "agi"
    assert rec.outcome is Outcome.ABANDONED_IN_MENU
    assert rec.route_kind is None and rec.answered_at is None
    assert [s.event for s in rec.steps][:1] == ["start"]


def test_agi_script_invalid_keys_three_times_when_closed_go_to_voicemail(
    stack: Stack, agi: AgiLine
) -> None:
    agi.at(SUNDAY_10)
    number = caller(stack)
    # '#' is one of the wrong keys (pressed at the first prompt, where GET DATA would
    # take it for the end of input): the script reads it as a key, not as a silence
    result = place_call(
        "#77",
        number,
        extension=AGI_EXTENSION,
        first_key_delay_ms=FIRST_KEY_MS,
        key_gap_ms=1200,
        hangup_after_ms=FIRST_KEY_MS + 8000,
        timeout_s=45,
    )
    assert result.exit_code is not None
    rec = stack.call_record(number)
    assert rec.source == "agi"
    assert [(s.event, s.key) for s in rec.steps if s.event == "invalid"] == [
        ("invalid", "#"),
        ("invalid", "7"),
        ("invalid", "7"),
    ]
    assert rec.route_kind == "voicemail"
    assert rec.outcome is Outcome.VOICEMAIL


def test_a_caller_name_that_is_not_utf8_is_logged_by_the_agi_script(
    stack: Stack, agi: AgiLine
) -> None:
    # The From display name goes on the wire as raw bytes (SIPp takes its -key
    # value from argv, and a surrogate-escaped str becomes those bytes there).
    agi.at(WEEKDAY_10)
    number = caller(stack)
    display = b"\xff\xfeWang".decode("utf-8", "surrogateescape")
    result = place_call(
        "", number, extension=AGI_EXTENSION, hangup_after_ms=4000, timeout_s=20, display=display
    )
    assert result.hung_up_by == "caller"
    rec = stack.call_record(number)
    assert rec.source == "agi"
    assert rec.caller_name == "\ufffd\ufffdWang"
    assert rec.outcome is Outcome.ABANDONED_IN_MENU
    assert stack.calls_from(number) == 1
