"""`hotline bench ivr`: SIPp load through the sandbox Asterisk.

Two runs at the same rate in the same process and minute, so the ratio is
meaningful on a shared, noisy machine:

* baseline: the bare dialplan (Answer, Wait(3), Hangup), no AGI, no database;
* ivr: the full hotline path: FastAGI menu (the key, 9 by default, arrives as
  SIP INFO), routing decision, call-log writes to the embedded SQLite database,
  AMI completion of the record. The caller sends the key soon after the ACK and
  hangs up shortly after it (hold_ms), so the route's dialplan has started but
  the call is about as long as the baseline's.

Both runs are signalling only: the load callers offer `a=inactive` media
(see sipp.run_load), so Asterisk sends no RTP to them in either run. Each run
starts from a drained Asterisk (0 channels); the IVR run's call records are
counted once Asterisk has drained and the call log is flushed.

`p99_ms` is the FastAGI decision latency: from the caller's last key to the
route variables acknowledged by Asterisk, measured inside the service.

Whatever fails, the service and Asterisk are stopped and the figures measured
so far are returned, with the error under "errors".
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ivr.adapters.asterisk.names import GLOBAL_MAX_IN_IVR

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
    """Call records of the run: all, those ended with an outcome, and those shed
    by admission control."""
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


def wait_records(runtime: Any, service: Any, expected: int) -> dict[str, int]:
    """Flush the call log and wait (a little) until every record has completed."""
    deadline = time.monotonic() + RECORDS_TIMEOUT_S
    while True:
        calllog = service.service.calllog
        if calllog is not None:
            calllog.flush()
        records = count_records(runtime)
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
    """Run the baseline and the IVR load; return the figures as a dict.

    `max_in_ivr` overrides the config's admission limit for the run (the dialplan
    global, set on the running Asterisk).

    Never raises for a failed run: the error goes into the result under
    "errors", next to whatever was measured.
    """
    from ivr.bootstrap import build_runtime, build_service
    from ivr.service import ServiceThread
    from lab.provision import provision_sandbox
    from lab.sandbox import Sandbox
    from lab.sipp import run_load

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
    latencies = Latencies()
    sandbox = Sandbox()

    def note(what: str, exc: BaseException) -> None:
        errors.append(f"{what}: {type(exc).__name__}: {exc}")

    try:
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
                # baseline
                left = wait_drained(sandbox)
                with Monitor(sandbox) as mon:
                    base = run_load(
                        rate,
                        seconds,
                        "baseline",
                        hold_ms=BASELINE_HOLD_MS,
                        first_key_delay_ms=first_key_delay_ms,
                        media=media,
                    )
                result["baseline"] = {**_load_figures(base, seconds), "start_channels": left}
                result["baseline"]["left_channels"] = wait_drained(sandbox)
                result["baseline"].update(mon.figures)
                # ivr
                left = result["baseline"]["left_channels"]
                with Monitor(sandbox) as mon:
                    ivr = run_load(
                        rate,
                        seconds,
                        "hotline",
                        keys=keys,
                        hold_ms=hold_ms,
                        extension=runtime.config.site.hotline_extension,
                        first_key_delay_ms=first_key_delay_ms,
                        media=media,
                    )
                result["ivr"] = {
                    **_load_figures(ivr, seconds),
                    "p50_ms": latencies.percentile_ms(50),
                    "p99_ms": latencies.percentile_ms(99),
                    "decisions": len(latencies.samples),
                    "start_channels": left,
                }
                result["ivr"]["left_channels"] = wait_drained(sandbox)
                result["ivr"].update(mon.figures)
                if base.completed:
                    result["ratio"] = round(ivr.completed / base.completed, 3)
                result["records"] = wait_records(runtime, service, ivr.created)
                result["records"]["placed"] = ivr.created
                # Admission control: the shed calls are the records that say so
                # (SIPp sees them as calls that completed: Asterisk hung up).
                result["ivr"]["shed"] = result["records"]["shed"]
                result["ivr"]["admitted"] = ivr.created - result["records"]["shed"]
                result["ivr"]["max_in_ivr"] = limit
            except Exception as exc:  # noqa: BLE001 - a bench reports every failure, then cleans up
                note("run", exc)
            finally:
                if service is not None:
                    try:
                        service.stop()
                    except Exception as exc:  # noqa: BLE001 - a bench reports every failure, then cleans up
                        note("stopping the service", exc)
                if runtime is not None:
                    if result["ivr"] is not None and result["records"] is None:
                        try:
                            result["records"] = count_records(runtime)
                        except Exception as exc:  # noqa: BLE001 - a bench reports every failure, then cleans up
                            note("counting records", exc)
                    runtime.close()
                try:
                    sandbox.stop()
                except Exception as exc:  # noqa: BLE001 - a bench reports every failure, then cleans up
                    note("stopping Asterisk", exc)
    except Exception as exc:  # noqa: BLE001 - a bench reports every failure, then cleans up
        note("sandbox", exc)
    if result["ivr"] is not None:  # decisions made after the snapshot
        result["ivr"]["p99_ms"] = latencies.percentile_ms(99)
        result["ivr"]["p50_ms"] = latencies.percentile_ms(50)
        result["ivr"]["decisions"] = len(latencies.samples)
    if errors:
        result["errors"] = errors
    return result
