"""MissedHangups: records whose channels are gone unheard are ended, never a live one;
and `ami.sweep_seconds`, how often besides every AMI reconnect."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from config_files import SAMPLE_CONFIG_DIR, edit

from ivr.app.hangups import LOOK_BACK, MISSED_CAUSE, MissedHangups
from ivr.config import ConfigError, load_config
from ivr.domain.calllog import CallEnded, CallEvent

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


class World:
    """The call log's open records and Asterisk's channels, as a sweep sees them."""

    def __init__(self) -> None:
        self.now = T0
        self.open: list[str] = []
        self.live: set[str] | None = set()
        self.recorded: list[CallEvent] = []
        self.asked_since: list[datetime] = []
        self.order: list[str] = []

    def record(self, event: CallEvent) -> None:
        self.recorded.append(event)
        if isinstance(event, CallEnded) and event.uid in self.open:
            self.open.remove(event.uid)

    def open_calls(self, since: datetime) -> list[str]:
        self.order.append("records")
        self.asked_since.append(since)
        return list(self.open)

    def live_channels(self) -> Collection[str] | None:
        self.order.append("channels")
        return None if self.live is None else set(self.live)

    def sweep(self) -> MissedHangups:
        return MissedHangups(self, self.open_calls, self.live_channels, lambda: self.now)


def test_a_record_whose_channel_is_gone_is_ended_at_the_second_listing_only() -> None:
    w = World()
    w.open, w.live = ["gone.1", "live.2"], {"live.2", "seat.9"}
    sweep = w.sweep()
    assert sweep() == [] and w.recorded == [] and sweep.pending
    w.now = T0 + timedelta(seconds=5)
    assert sweep() == ["gone.1"]
    assert w.recorded == [CallEnded("gone.1", w.now, MISSED_CAUSE)]
    assert not sweep.pending
    assert w.open == ["live.2"]
    w.now = T0 + timedelta(seconds=10)
    assert sweep() == [] and len(w.recorded) == 1  # a live call is never ended


def test_a_channel_found_by_its_linkedid_is_live() -> None:
    w = World()
    w.open, w.live = ["caller.1"], {"seat-leg.5"}
    sweep = w.sweep()
    sweep()
    w.live = {"seat-leg.5", "caller.1"}  # e.g. the caller's uid only as a Linkedid
    assert sweep() == [] and not sweep.pending


def test_a_hangup_heard_between_two_listings_ends_nothing() -> None:
    w = World()
    w.open, w.live = ["c.1"], set()
    sweep = w.sweep()
    sweep()
    w.open = []  # its Hangup landed in the call log meanwhile
    assert sweep() == [] and w.recorded == [] and not sweep.pending


def test_missing_twice_but_not_in_a_row_is_not_ended() -> None:
    w = World()
    w.open, w.live = ["c.1"], set()
    sweep = w.sweep()
    sweep()
    w.live = None  # AMI cannot say: nothing ended, and the count starts again
    assert sweep() == [] and not sweep.pending
    w.live = set()
    assert sweep() == [] and sweep.pending
    assert sweep() == ["c.1"]


def test_the_records_are_read_before_the_channels_are_listed() -> None:
    # A call that starts between the two reads has a channel in the listing, or no
    # record in the candidates: never a record without its channel.
    w = World()
    w.sweep()()
    assert w.order == ["records", "channels"]


def test_only_records_started_within_the_look_back_are_asked_for() -> None:
    w = World()
    w.sweep()()
    assert w.asked_since == [T0 - LOOK_BACK]


def test_a_new_record_missing_once_waits_for_its_own_second_listing() -> None:
    w = World()
    w.open, w.live = ["a.1"], set()
    sweep = w.sweep()
    sweep()
    w.open = ["a.1", "b.2"]
    assert sweep() == ["a.1"] and sweep.pending  # b.2 missing once so far
    assert sweep() == ["b.2"]
    assert [e.uid for e in w.recorded if isinstance(e, CallEnded)] == ["a.1", "b.2"]


# --- ami.sweep_seconds in hotline.yaml ----------------------------------------------


def test_the_sample_config_sweeps_every_five_minutes() -> None:
    assert load_config(SAMPLE_CONFIG_DIR).ami.sweep_seconds == 300


@pytest.mark.parametrize("value", [5, 60, 86_400])
def test_the_sweep_interval_is_read_from_config(config_dir: Path, value: int) -> None:
    edit(config_dir, "hotline.yaml", "sweep_seconds: 300", f"sweep_seconds: {value}")
    assert load_config(config_dir).ami.sweep_seconds == value


@pytest.mark.parametrize(
    "value, reason",
    [
        ("4", "at least 5"),
        ("0", "at least 5"),
        ("-30", "at least 5"),
        ("86401", "at most 86400"),
        ("soon", "whole number"),
        ("2.5", "whole number"),
        ("true", "whole number"),
        (".inf", "whole number"),
        ("", "whole number"),
    ],
)
def test_a_bad_sweep_interval_is_refused_naming_the_item(
    config_dir: Path, value: str, reason: str
) -> None:
    edit(config_dir, "hotline.yaml", "sweep_seconds: 300", f"sweep_seconds: {value}")
    with pytest.raises(ConfigError) as e:
        load_config(config_dir)
    assert e.value.file == "hotline.yaml" and e.value.item == "ami.sweep_seconds"
    assert reason in e.value.reason, e.value.reason
