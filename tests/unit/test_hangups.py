"""MissedHangups: records whose channels are gone unheard are ended, never a live one;
`ami.sweep_seconds`; and when the service sweeps (every reconnect, every interval)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from config_files import SAMPLE_CONFIG_DIR, copy_sample, edit

import ivr.service as service_module
from ivr.adapters.asterisk.conf_dir import AsteriskConfDir
from ivr.app.hangups import LOOK_BACK, MISSED_CAUSE, MissedHangups
from ivr.bootstrap import build_runtime, build_service
from ivr.config import ConfigError, load_config
from ivr.domain.calllog import CallEnded, CallEvent
from ivr.service import HotlineService

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


# --- when the service sweeps ----------------------------------------------------------


class CountingSweep:
    """Stands in for MissedHangups in the service's loop: counts the listings."""

    def __init__(self, pending_once: bool = False) -> None:
        self.calls = 0
        self.pending = pending_once

    def __call__(self) -> list[str]:
        self.calls += 1
        if self.calls > 1:
            self.pending = False
        return []


@pytest.fixture
def service(tmp_path: Path) -> Iterator[HotlineService]:
    config = copy_sample(tmp_path / "c")
    rt = build_runtime(config, {"HOTLINE_DATA_DIR": str(tmp_path / "v")})
    svc = build_service(rt, asterisk=AsteriskConfDir(tmp_path / "a"))
    try:
        yield svc
    finally:
        svc.calllog.close()
        rt.close()


def every(service: HotlineService, seconds: float) -> None:
    """The interval, under the config's own floor (whole seconds, at least 5) for a
    quick test: the service waits any number of seconds."""
    ami = replace(service.config.ami, sweep_seconds=seconds)  # type: ignore[arg-type]
    service.config = replace(service.config, ami=ami)


def run_loop(service: HotlineService, sweep: CountingSweep, seconds: float,
             during: Callable[[], None] | None = None) -> None:  # fmt: skip
    async def go() -> None:
        service._loop, service._ami_up = asyncio.get_running_loop(), asyncio.Event()
        task = asyncio.create_task(service._hangup_loop(sweep))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        if during is not None:
            await asyncio.to_thread(during)
        await asyncio.sleep(seconds)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(go())


def test_the_service_sweeps_every_interval(service: HotlineService) -> None:
    assert isinstance(service.hangups, MissedHangups)
    every(service, 0.05)
    sweep = CountingSweep()
    run_loop(service, sweep, 0.5)
    assert sweep.calls >= 4


def test_the_service_sweeps_at_once_after_an_ami_reconnect(service: HotlineService) -> None:
    every(service, 3600)
    sweep = CountingSweep()
    run_loop(service, sweep, 0.3)
    assert sweep.calls == 0  # nothing due yet
    sweep = CountingSweep()
    run_loop(service, sweep, 0.5, during=service._on_ami_connect)
    assert sweep.calls == 1


def test_a_record_missing_once_is_listed_again_soon(
    service: HotlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "HANGUP_CONFIRM_SECONDS", 0.05)
    every(service, 3600)
    sweep = CountingSweep(pending_once=True)
    run_loop(service, sweep, 0.5, during=service._on_ami_connect)
    assert sweep.calls == 2  # the reconnect's listing, and the confirmation


@pytest.mark.parametrize("turns", range(6))
def test_the_sweep_loop_ends_when_stopped_as_the_link_comes_up(
    service: HotlineService, turns: int
) -> None:
    """A stop that lands while a reconnect wakes the loop still ends it. (Python
    3.11's wait_for returns the awaited result instead of raising when the cancel
    and the result meet: the loop went on to wait out a whole sweep interval, and
    the service's stop with it.)"""
    every(service, 3600)
    sweep = CountingSweep()

    async def go() -> bool:
        service._loop, service._ami_up = asyncio.get_running_loop(), asyncio.Event()
        task = asyncio.create_task(service._hangup_loop(sweep))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)  # waiting for the link to come up
        service._ami_up.set()
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2)
        return bool(done)

    assert asyncio.run(go()), "the loop went on after it was cancelled"


def test_stop_returns_only_once_the_thread_work_in_flight_has_ended(
    service: HotlineService,
) -> None:
    """A sweep running in a thread when the service stops is waited for: nothing of
    the service may touch the database once stop() has returned (the runtime closes
    its pools next; a thread still holding a connection then leaked it)."""
    started, ended = threading.Event(), threading.Event()

    def slow_sweep() -> list[str]:
        started.set()
        time.sleep(0.5)
        ended.set()
        return []

    async def go() -> bool:
        service._loop = asyncio.get_running_loop()
        service._threads.start()  # as start() does
        service._tasks.append(asyncio.create_task(service._case_loop(slow_sweep)))
        await asyncio.to_thread(started.wait, 5)
        await service.stop()
        return ended.is_set()

    assert asyncio.run(go()), "stop() returned while the sweep's thread still ran"
