"""`hotline bench ivr`: SIPp load through the sandbox Asterisk.

Three paths with the same callers (same key, same timing), run in the same
process and minute, so their ratios mean something on a shared, noisy machine:

* baseline: the bare dialplan (Answer, Wait(3), Hangup), no AGI, no database;
* menu: the dialplan-only menu: the menu's first prompt and the key with Read(),
  then the next prompt; no AGI, no database (what Asterisk alone spends on it);
* ivr: the full hotline path: FastAGI menu (the key, 9 by default, arrives as
  SIP INFO), routing decision, call-log writes to the embedded SQLite database,
  AMI completion of the record. The caller sends the key soon after the ACK and
  hangs up shortly after it (hold_ms), so the route's dialplan has started but
  the call is about as long as the baseline's.

`run_ivr_bench` runs the baseline and the IVR at one rate; from the moment the
IVR burst ends, probe callers dial one at a time until one is admitted and
routed, and `ivr.recovery.recovery_s` says how long after the burst that was
(back to normal after an overload). `find_max` steps the rate up for all three
until each fails to sustain it (see `sustainable`).

Every run is signalling only: the load callers offer `a=inactive` media
(see sipp.run_load), so Asterisk sends no RTP to them. Each run starts from a
drained Asterisk (0 channels); the IVR run's call records are counted once
Asterisk has drained and the call log is flushed.

`p99_ms` is the FastAGI decision latency: from the caller's last key to the
route variables acknowledged by Asterisk, measured inside the service. The cost
per call is CPU time over the run divided by the calls placed (Asterisk's; the
hotline's, which is this process, for the IVR) and the AGI commands per call.

Whatever fails, the service and Asterisk are stopped and the figures measured
so far are returned, with the error under "errors".
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ivr.adapters.asterisk.names import GLOBAL_MAX_IN_IVR
from lab.bench import FIND_MAX_TRIES

if TYPE_CHECKING:
    from lab.sipp import LoadMedia

DRAIN_TIMEOUT_S = 60.0
# The baseline callers stay on the line well past the dialplan's Wait(3): Asterisk
# hangs up every baseline call (a caller's BYE racing Asterisk's would measure SIPp).
BASELINE_HOLD_MS = 8000
RECORDS_TIMEOUT_S = 20.0
_CHANNELS_RE = re.compile(r"(\d+) active channels?")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Latencies:
    samples: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def percentile_ms(self, p: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return round(ordered[index] * 1000, 3)


def _cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of a process (all threads), in seconds."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _host_counters() -> tuple[float, float, float, int]:
    """Machine-wide user, system and stolen CPU seconds, and UDP datagrams sent.

    Steal is time this virtual machine wanted a CPU and the host gave it to
    someone else: the noise of a shared machine, which no baseline cancels.
    """
    user = system = steal = 0.0
    datagrams = 0
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            cpu = handle.readline().split()
        user = (int(cpu[1]) + int(cpu[2])) / _TICKS
        system = (int(cpu[3]) + int(cpu[6]) + int(cpu[7])) / _TICKS
        steal = int(cpu[8]) / _TICKS if len(cpu) > 8 else 0.0
        with open("/proc/net/snmp", encoding="ascii") as handle:
            udp = [line.split() for line in handle if line.startswith("Udp:")]
        if len(udp) >= 2:
            datagrams = int(udp[1][udp[0].index("OutDatagrams")])
    except (OSError, ValueError, IndexError):
        pass
    return user, system, steal, datagrams


def channel_count(sandbox: Any) -> int | None:
    """Active channels in the sandbox Asterisk, or None when it does not answer."""
    from ivr.adapters.asterisk.errors import AsteriskNotRunningError

    try:
        match = _CHANNELS_RE.search(sandbox.rx("core show channels count", timeout=5))
    except AsteriskNotRunningError:
        return None
    return int(match.group(1)) if match else None


class Monitor:
    """Samples Asterisk's channels and the CPU of Asterisk and of this process."""

    def __init__(self, sandbox: Any, interval: float = 1.0) -> None:
        self.sandbox = sandbox
        self.interval = interval
        self.max_channels = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)
        self._pid = sandbox._pid()
        self._start: tuple[float, float | None, float | None] | None = None
        self._host: tuple[float, float, float, int] = (0.0, 0.0, 0.0, 0)
        self.figures: dict[str, Any] = {}

    def __enter__(self) -> Monitor:
        self._start = (time.monotonic(), _cpu_seconds(self._pid), _cpu_seconds(os.getpid()))
        self._host = _host_counters()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        assert self._start is not None
        t0, ast0, py0 = self._start
        wall = time.monotonic() - t0
        ast1, py1 = _cpu_seconds(self._pid), _cpu_seconds(os.getpid())
        user1, system1, steal1, udp1 = _host_counters()
        user0, system0, steal0, udp0 = self._host

        def pct(a: float | None, b: float | None) -> float | None:
            return round(100 * (b - a) / wall, 1) if a is not None and b is not None else None

        self.figures = {
            "wall_s": round(wall, 3),
            "asterisk_cpu_s": round(ast1 - ast0, 3) if ast0 is not None and ast1 else None,
            "python_cpu_s": round(py1 - py0, 3) if py0 is not None and py1 else None,
            "asterisk_cpu_pct": pct(ast0, ast1),
            "python_cpu_pct": pct(py0, py1),
            "host_user_pct": pct(user0, user1),
            "host_system_pct": pct(system0, system1),
            "host_steal_pct": pct(steal0, steal1),
            "udp_out_per_s": round((udp1 - udp0) / wall),
            "max_channels": self.max_channels,
        }

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            count = channel_count(self.sandbox)
            if count is not None:
                self.max_channels = max(self.max_channels, count)


def wait_drained(sandbox: Any, timeout_s: float = DRAIN_TIMEOUT_S) -> int | None:
    """Wait until Asterisk has no channel left; the last count seen (0 when drained)."""
    deadline = time.monotonic() + timeout_s
    count = channel_count(sandbox)
    while count != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        count = channel_count(sandbox)
    return count


def count_records(runtime: Any) -> dict[str, int]:
    """Call records so far: all, those ended with an outcome, and those shed by
    admission control."""
    from sqlalchemy import text

    with runtime.sessions() as session:
        total, ended, shed = session.execute(
            text(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN ended_at IS NOT NULL"
                " AND outcome != 'in_progress' THEN 1 ELSE 0 END), 0),"
                " COALESCE(SUM(CASE WHEN outcome = 'shed' THEN 1 ELSE 0 END), 0)"
                " FROM calls WHERE source IS NOT NULL"
            )
        ).one()
    return {"total": int(total), "completed": int(ended), "shed": int(shed)}


def wait_records(
    runtime: Any, service: Any, expected: int, before: dict[str, int] | None = None
) -> dict[str, int]:
    """Flush the call log and wait (a little) until `expected` more records than
    `before` have completed; the records of the run (after less before)."""
    before = before or {"total": 0, "completed": 0, "shed": 0}
    deadline = time.monotonic() + RECORDS_TIMEOUT_S
    while True:
        calllog = service.service.calllog
        if calllog is not None:
            calllog.flush()
        now = count_records(runtime)
        records = {k: now[k] - before[k] for k in now}
        if records["completed"] >= expected or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def _load_figures(result: Any, seconds: float) -> dict[str, Any]:
    """Throughput and failures of one SIPp run; why calls failed, by SIPp's counters."""
    from lab.sipp import stat_count

    failed_by = {
        column.removesuffix("(C)"): stat_count(result.stats, column)
        for column in result.stats
        if column.startswith("Failed") and column.endswith("(C)") and column != "FailedCall(C)"
    }
    return {
        "completed_cps": round(result.completed / seconds, 2),
        "failed": result.failed,
        "placed": result.created,
        "failed_by": {reason: n for reason, n in failed_by.items() if n},
        "retransmissions": stat_count(result.stats, "Retransmissions(C)"),
    }


PATHS = ("baseline", "menu", "ivr")
"""The three paths the bench compares, with the same callers:

* baseline: the bare dialplan (Answer, Wait(3), Hangup);
* menu: the dialplan-only menu (the first prompt and one key with Read(), then
  the next prompt): no AGI, no database, what Asterisk alone spends on the menu;
* ivr: the full hotline path (FastAGI menu and decision, call log, AMI)."""

MENU_BENCH_EXTENSION = "4996"  # AsteriskSettings.menu_bench_extension
DECISION_P99_TARGET_MS = 10.0
RECOVERY_TIMEOUT_S = 30.0  # probes stop trying this long after the burst
PROBE_GAP_S = 0.5  # between one probe call's end and the next one's start


@dataclass
class Load:
    """How the callers behave: the same in every path."""

    keys: str = "9"
    hold_ms: int = 300
    first_key_delay_ms: int = 500
    media: LoadMedia = "inactive"


@dataclass
class _Rig:
    """The running parts of one bench: the sandbox, the hotline service and its
    decision latencies."""

    sandbox: Any
    runtime: Any
    service: Any
    latencies: Latencies

    def run(
        self, path: str, rate: float, seconds: float, load: Load, probe: bool = False
    ) -> dict[str, Any]:
        """One SIPp run of `path` at `rate` for `seconds`, from a drained Asterisk:
        throughput, failures, CPU, the cost per call and (ivr) decisions and records.
        With `probe` (ivr), probe calls from the burst's end measure the recovery;
        the figures of the run leave them out."""
        from lab.sipp import run_load

        start_channels = wait_drained(self.sandbox)
        fastagi = self.service.service.fastagi
        dialogs, commands = fastagi.dialogs, fastagi.commands
        before = count_records(self.runtime) if path == "ivr" else None
        self.latencies.samples.clear()
        extension = {
            "baseline": None,
            "menu": MENU_BENCH_EXTENSION,
            "ivr": self.runtime.config.site.hotline_extension,
        }[path]
        prober = (
            _Prober(self, str(extension), load, time.monotonic() + seconds)
            if probe and path == "ivr"
            else None
        )
        with Monitor(self.sandbox) as mon, prober or contextlib.nullcontext():
            result = run_load(
                rate,
                seconds,
                "baseline" if path == "baseline" else "hotline",
                keys=load.keys,
                hold_ms=BASELINE_HOLD_MS if path == "baseline" else load.hold_ms,
                extension=extension,
                first_key_delay_ms=load.first_key_delay_ms,
                media=load.media,
            )
        figures: dict[str, Any] = {
            **_load_figures(result, seconds),
            "start_channels": start_channels,
        }
        figures["left_channels"] = wait_drained(self.sandbox)
        figures.update(mon.figures)
        placed = max(1, result.created)
        figures["per_call"] = {
            "asterisk_cpu_ms": _per_call_ms(mon.figures.get("asterisk_cpu_s"), placed),
            "hotline_cpu_ms": _per_call_ms(mon.figures.get("python_cpu_s"), placed)
            if path == "ivr"
            else None,
            "agi_round_trips": round((fastagi.commands - commands) / placed, 2),
            "agi_dialogs": round((fastagi.dialogs - dialogs) / placed, 2),
        }
        if path == "ivr":
            probes = prober.figures() if prober else {"placed": 0, "shed": 0}
            records = wait_records(
                self.runtime, self.service, result.created + probes["placed"], before
            )
            # the probes' records and decisions are theirs, not the run's
            records["total"] -= probes["placed"]
            records["completed"] = min(records["total"], records["completed"] - probes["placed"])
            records["shed"] -= probes["shed"]
            served = probes["placed"] - probes["shed"]
            figures["records"] = {**records, "placed": result.created}
            figures["shed"] = records["shed"]
            figures["admitted"] = result.created - records["shed"]
            samples = self.latencies.samples[: max(0, len(self.latencies.samples) - served)]
            figures["p50_ms"] = Latencies(samples).percentile_ms(50)
            figures["p99_ms"] = Latencies(samples).percentile_ms(99)
            figures["decisions"] = len(samples)
            if prober is not None:
                figures["recovery"] = probes
                if prober.errors:
                    figures["probe_errors"] = prober.errors[:5]
        return figures


class _Prober:
    """Probe calls from the moment a burst ends until one is served normally.

    "Back to normal" is measured, not assumed: from `at` (the burst's end, when
    SIPp stops placing calls) one caller at a time dials the hotline with the
    bench's key and timing, until a call is admitted and routed (its record has a
    routing decision and is not shed). `recovery_s` is when that call started,
    counted from the burst's end: 0 when the first probe was served.
    """

    NUMBER = "+86139990{:05d}"  # probe callers (the load's callers use other numbers)

    def __init__(self, rig: _Rig, extension: str, load: Load, at: float) -> None:
        self.rig, self.extension, self.load, self.at = rig, extension, load, at
        self.placed = 0
        self.shed = 0
        self.recovery_s: float | None = None
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="bench-probe", daemon=True)

    def __enter__(self) -> _Prober:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._thread.join(RECOVERY_TIMEOUT_S + 60)

    def figures(self) -> dict[str, Any]:
        return {"recovery_s": self.recovery_s, "placed": self.placed, "shed": self.shed}

    def _run(self) -> None:
        from lab.sipp import place_call

        time.sleep(max(0.0, self.at - time.monotonic()))
        while time.monotonic() - self.at < RECOVERY_TIMEOUT_S:
            number = self.NUMBER.format(self.placed)
            started = time.monotonic()
            self.placed += 1
            try:
                result = place_call(
                    self.load.keys,
                    number,
                    hold_ms=self.load.hold_ms,
                    first_key_delay_ms=self.load.first_key_delay_ms,
                    extension=self.extension,
                    timeout_s=20,
                )
                served, shed = self._served(number) if result.ok else (False, False)
            except Exception as exc:  # noqa: BLE001 - a bench reports every failure
                self.errors.append(f"probe: {type(exc).__name__}: {exc}")
                served, shed = False, False
            self.shed += shed
            if served:
                self.recovery_s = round(max(0.0, started - self.at), 3)
                return
            time.sleep(PROBE_GAP_S)

    def _served(self, number: str) -> tuple[bool, bool]:
        """(routed and not shed, shed) for the probe's record, once written."""
        deadline = time.monotonic() + RECORDS_TIMEOUT_S
        while time.monotonic() < deadline:
            calllog = self.rig.service.service.calllog
            if calllog is not None:
                calllog.flush()
            rec = self.rig.runtime.calls.latest_from(number)
            if rec is not None and rec.ended_at is not None:
                shed = rec.outcome.value == "shed"
                return (not shed and rec.routed_at is not None), shed
            time.sleep(0.2)
        return False, False


def _per_call_ms(cpu_s: float | None, calls: int) -> float | None:
    return round(cpu_s * 1000 / calls, 3) if cpu_s is not None else None


def sustainable(path: str, figures: dict[str, Any]) -> bool:
    """Every call completed, none failed, Asterisk drained; for the IVR also every
    record complete, none shed, and the decision p99 under the target. A run that
    ended in an error (`error`) does not hold."""
    if "error" in figures:
        return False
    ok = bool(
        figures["failed"] == 0
        and figures["placed"] > 0
        and figures["left_channels"] == 0
        and figures["completed_cps"] > 0
    )
    if path != "ivr" or not ok:
        return ok
    records = figures["records"]
    p99 = figures["p99_ms"]
    return bool(
        records["total"] == records["completed"] == records["placed"]
        and records["shed"] == 0
        and p99 is not None
        and p99 < DECISION_P99_TARGET_MS
    )


@contextlib.contextmanager
def _rig(config_dir: str | None, max_in_ivr: int | None, errors: list[str]) -> Iterator[_Rig]:
    """The sandbox (held exclusively), a throw-away database, the hotline service;
    whatever started is stopped and every failure noted in `errors`."""
    from ivr.bootstrap import build_runtime, build_service
    from ivr.service import ServiceThread
    from lab.provision import provision_sandbox
    from lab.sandbox import Sandbox

    def note(what: str, exc: BaseException) -> None:
        errors.append(f"{what}: {type(exc).__name__}: {exc}")

    sandbox = Sandbox()
    latencies = Latencies()
    with sandbox.exclusive(), tempfile.TemporaryDirectory(prefix="hotline-bench-") as d:
        env = {"HOTLINE_DATA_DIR": d, "HOTLINE_DATABASE_URL": f"sqlite:///{d}/bench.db"}
        runtime = service = None
        try:
            runtime = build_runtime(config_dir, env)
            provision_sandbox(runtime, sandbox)
            limit = max_in_ivr or runtime.config.admission.max_in_ivr
            sandbox.rx(f"dialplan set global {GLOBAL_MAX_IN_IVR} {limit}")
            service = ServiceThread(build_service(runtime, on_decision_latency=latencies.add))
            service.start()
            yield _Rig(sandbox, runtime, service, latencies)
        finally:
            if service is not None:
                try:
                    service.stop()
                except Exception as exc:  # noqa: BLE001 - a bench reports every failure, then cleans up
                    note("stopping the service", exc)
            if runtime is not None:
                runtime.close()
            try:
                sandbox.stop()
            except Exception as exc:  # noqa: BLE001 - a bench reports every failure, then cleans up
                note("stopping Asterisk", exc)


def run_ivr_bench(
    rate: float,
    seconds: float,
    config_dir: str | None = None,
    keys: str = "9",
    hold_ms: int = 300,
    first_key_delay_ms: int = 500,
    media: LoadMedia = "inactive",
    max_in_ivr: int | None = None,
) -> dict[str, Any]:
    """Run the baseline and the IVR load at one rate; return the figures as a dict.

    `max_in_ivr` overrides the config's admission limit for the run (the dialplan
    global, set on the running Asterisk). Never raises for a failed run: the error
    goes into the result under "errors", next to whatever was measured.
    """
    load = Load(keys, hold_ms, first_key_delay_ms, media)
    result: dict[str, Any] = {
        "rate": rate,
        "seconds": seconds,
        "ivr": None,
        "baseline": None,
        "ratio": None,
        "records": None,
        "settings": {
            "keys": keys,
            "first_key_delay_ms": first_key_delay_ms,
            "hold_ms": hold_ms,
            "media": media,
        },
    }
    errors: list[str] = []
    try:
        with _rig(config_dir, max_in_ivr, errors) as rig:
            result["baseline"] = rig.run("baseline", rate, seconds, load)
            ivr = rig.run("ivr", rate, seconds, load, probe=True)
            result["records"] = ivr.pop("records")
            ivr["max_in_ivr"] = max_in_ivr or rig.runtime.config.admission.max_in_ivr
            result["ivr"] = ivr
            base_done = result["baseline"]["completed_cps"]
            if base_done:
                result["ratio"] = round(ivr["completed_cps"] / base_done, 3)
    except Exception as exc:  # noqa: BLE001 - a bench reports every failure
        errors.append(f"run: {type(exc).__name__}: {exc}")
    if errors:
        result["errors"] = errors
    return result


def find_max(
    config_dir: str | None = None,
    *,
    start: float = 50,
    step: float = 25,
    top: float = 600,
    seconds: float = 10,
    load: Load | None = None,
    paths: tuple[str, ...] = PATHS,
    tries: int = FIND_MAX_TRIES,
) -> dict[str, Any]:
    """Step the rate up for the three paths with the same callers, interleaved
    (each rate runs every path still standing, in the same minute), until a path
    fails to sustain a rate (`sustainable`) in `tries` runs in a row. Admission
    control is lifted for the run: the bench measures what the machine carries,
    not the configured limit.

    Reports each path's highest sustainable rate and its cost per call there,
    `capacity_ratio` = ivr / menu and `bare_ratio` = ivr / baseline, and every run.
    """
    from ivr.adapters.asterisk.errors import SippError

    load = load or Load()
    search = RateSearch(paths, tries)
    errors: list[str] = []
    try:
        with _rig(config_dir, 100_000, errors) as rig:

            def measure(path: str, rate: float) -> dict[str, Any]:
                # SIPp not finishing is that run not holding its rate, not the end
                # of the search for every path (the next run waits for Asterisk to drain).
                try:
                    return rig.run(path, rate, seconds, load)
                except SippError as exc:
                    return {"error": f"{type(exc).__name__}: {exc}"}

            rate = start
            while search.standing and rate <= top:
                search.step(rate, measure)
                rate += step
    except Exception as exc:  # noqa: BLE001 - a bench reports every failure
        errors.append(f"run: {type(exc).__name__}: {exc}")
    best, steps, standing = search.best, search.steps, search.standing

    def max_cps(path: str) -> float | None:
        b = best.get(path)
        return b["rate"] if b else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    result: dict[str, Any] = {
        path: {"max_cps": max_cps(path), "at_max": best[path], "capped": path in standing}
        for path in paths
    }
    result.update(
        capacity_ratio=ratio(max_cps("ivr"), max_cps("menu")),
        bare_ratio=ratio(max_cps("ivr"), max_cps("baseline")),
        per_call={p: (best[p] or {}).get("per_call") for p in paths},
        settings={
            "start": start,
            "step": step,
            "top": top,
            "seconds": seconds,
            "tries": tries,
            **vars(load),
        },
        steps=steps,
    )
    if errors:
        result["errors"] = errors
    return result


@dataclass
class RateSearch:
    """The find-max search over the paths, one rate at a time.

    A path holds a rate when one of `tries` runs in a row sustains it: on a
    shared machine a single run can fall over for reasons of its own (a burst of
    stolen CPU), which would end that path's search one or more steps early and
    make the ratio a draw. Every path gets the same number of tries, and every
    run is kept in `steps`, those that failed too.
    """

    paths: tuple[str, ...]
    tries: int = FIND_MAX_TRIES
    best: dict[str, dict[str, Any] | None] = field(init=False)
    steps: list[dict[str, Any]] = field(init=False, default_factory=list)
    standing: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.best = dict.fromkeys(self.paths)
        self.standing = list(self.paths)

    def step(self, rate: float, run: Callable[[str, float], dict[str, Any]]) -> None:
        """Run every path still standing at `rate`; a path that does not hold it drops out."""
        for path in list(self.standing):
            for attempt in range(1, self.tries + 1):
                figures = run(path, rate)
                ok = sustainable(path, figures)
                self.steps.append(
                    {"path": path, "rate": rate, "try": attempt, "sustained": ok, **_brief(figures)}
                )
                if ok:
                    self.best[path] = {"rate": rate, **figures}
                    break
            else:
                self.standing.remove(path)


def _brief(figures: dict[str, Any]) -> dict[str, Any]:
    """What a step of the search shows: why it held or did not."""
    keys = (
        "completed_cps",
        "failed",
        "left_channels",
        "p99_ms",
        "records",
        "asterisk_cpu_pct",
        "error",
    )
    return {k: figures[k] for k in keys if k in figures}
