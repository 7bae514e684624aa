"""The `survey` section of hotline.yaml: the satisfaction survey after an answered call.

    survey:
      enabled: true
      scale: {low: 1, high: 5}       # keys low..high are scores (digits 0-9)
      satisfied_from: 4              # a score at or above it counts as satisfied
      not_resolved_key: "0"          # a digit off the scale, or "" for none
      timeout_seconds: 6             # wait for a key, 1-30
      attempts: 2                    # asks before giving up (no_answer), 1-5
      branches: {emergency: false}   # per branch on or off (default: enabled)

Absent, the survey is off. Every value is checked here, before the first call.
"""

from __future__ import annotations

from collections.abc import Iterable

from ivr.config.reader import Cursor
from ivr.domain.survey import DIGITS, SurveyPolicy

MAX_TIMEOUT_SECONDS = 30.0
MAX_ATTEMPTS = 5


def parse_survey(c: Cursor, branches: Iterable[str]) -> SurveyPolicy:
    """The survey policy from `survey:` (a missing section: no survey)."""
    if c.data is None:
        return SurveyPolicy(enabled=False)
    d = SurveyPolicy()
    enabled = c.opt("enabled", True).boolean()
    scale = c.opt("scale", {"low": d.low, "high": d.high})
    low_c, high_c = scale.opt("low", d.low), scale.opt("high", d.high)
    low, high = _digit(low_c), _digit(high_c)
    if high <= low:
        raise high_c.fail(f"must be above scale.low ({low}), got {high}")
    sat_c = c.opt("satisfied_from", min(d.satisfied_from, high))
    satisfied = sat_c.integer()
    if not low <= satisfied <= high:
        raise sat_c.fail(f"must be on the scale {low}-{high}, got {satisfied}")
    key_c = c.opt("not_resolved_key", d.not_resolved_key)
    key = key_c.text()
    if key and (len(key) != 1 or key not in DIGITS):
        raise key_c.fail(f"must be one digit 0-9 or empty, got {key!r}")
    if key and low <= int(key) <= high:
        raise key_c.fail(f"{key!r} is a score on the scale {low}-{high}: pick a key off it")
    timeout_c = c.opt("timeout_seconds", d.timeout_seconds)
    timeout = timeout_c.number()
    if timeout < 1 or timeout > MAX_TIMEOUT_SECONDS:
        raise timeout_c.fail(f"must be 1 to {MAX_TIMEOUT_SECONDS:g} seconds, got {timeout:g}")
    attempts_c = c.opt("attempts", d.attempts)
    attempts = attempts_c.integer(1)
    if attempts > MAX_ATTEMPTS:
        raise attempts_c.fail(f"must be 1 to {MAX_ATTEMPTS}, got {attempts}")
    known = set(branches)
    off = set()
    for name, on in c.opt("branches", {}).items():
        if name not in known:
            raise on.fail(f"unknown branch {name!r}: one of {', '.join(sorted(known))}")
        if not on.boolean():
            off.add(name)
    return SurveyPolicy(enabled, low, high, key, satisfied, timeout, attempts, frozenset(off))


def _digit(c: Cursor) -> int:
    value = c.integer()
    if value > 9:
        raise c.fail(f"must be a single key 0-9, got {value}")
    return value
