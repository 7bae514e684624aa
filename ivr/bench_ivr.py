"""`hotline bench ivr`: SIPp load through the sandbox Asterisk.

Two runs at the same rate in the same process and minute, so the ratio is
meaningful on a shared, noisy machine:

* baseline: the bare dialplan (Answer, Wait(3), Hangup), no AGI, no database;
* ivr: the full hotline path: FastAGI menu (the key, 9, arrives as SIP INFO),
  routing decision, call-log writes to the embedded SQLite database, AMI
  completion of the record; the caller hangs up 1.5 s after the key, while the
  route's first prompt plays (signalling only, as the baseline).

`p99_ms` is the FastAGI decision latency: from the caller's last key to the
route variables acknowledged by Asterisk, measured inside the service.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from typing import Any


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


def run_ivr_bench(
    rate: float,
    seconds: float,
    config_dir: str | None = None,
    keys: str = "9",
    hold_ms: int = 20000,
) -> dict[str, Any]:
    """Run the baseline and the IVR load; return the figures as a dict."""
    from ivr.adapters.asterisk.sandbox import Sandbox
    from ivr.adapters.asterisk.sipp import run_load
    from ivr.bootstrap import build_runtime, provision_sandbox
    from ivr.service import HotlineService, ServiceThread

    sandbox = Sandbox()
    with sandbox.exclusive(), tempfile.TemporaryDirectory(prefix="hotline-bench-") as d:
        env = {"HOTLINE_DATA_DIR": d, "HOTLINE_DATABASE_URL": f"sqlite:///{d}/bench.db"}
        runtime = build_runtime(config_dir, env)
        provision_sandbox(runtime, sandbox)
        latencies = Latencies()
        service = ServiceThread(HotlineService(runtime, on_decision_latency=latencies.add))
        service.start()
        try:
            baseline = run_load(rate, seconds, "baseline")
            time.sleep(5)  # let the baseline's calls drain
            ivr = run_load(
                rate,
                seconds,
                "hotline",
                keys=keys,
                hold_ms=hold_ms,
                extension=runtime.config.site.hotline_extension,
            )
        finally:
            service.stop()
            runtime.close()
            sandbox.stop()
    base_cps = baseline.completed / seconds
    ivr_cps = ivr.completed / seconds
    return {
        "rate": rate,
        "seconds": seconds,
        "ivr": {
            "completed_cps": round(ivr_cps, 2),
            "failed": ivr.failed,
            "p50_ms": latencies.percentile_ms(50),
            "p99_ms": latencies.percentile_ms(99),
            "decisions": len(latencies.samples),
        },
        "baseline": {"completed_cps": round(base_cps, 2), "failed": baseline.failed},
        "ratio": round(ivr_cps / base_cps, 3) if base_cps else None,
    }
