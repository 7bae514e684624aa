"""Callbacks for supervisors: the pending ledger and the callback rate per service rule.

Supervisors, managers and admins see the open requests (who is to be called back,
for what, when) with full numbers, since they are the ones who may have to call;
every read of that list is audited, like a call-detail read. Agents are refused
(their own callbacks due are on /agent). The rate per rule is `callback_rate`
over the requests made in the last `days` days (docs/CALLBACKS.md, "Rules").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext, ngettext

from ivr.bootstrap import CallbackParts, callback_parts
from ivr.domain.callbacks import (
    CallbackRequest,
    CallbackState,
    RuleKind,
    ServiceRule,
    callback_rate,
)
from web import params, store
from web.context import ctx
from web.i18n import pct
from web.security import STAFF, current_user, require

bp = Blueprint("callbacks", __name__)

DEFAULT_DAYS = 30
MAX_DAYS = 366
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


def _parts() -> CallbackParts:
    return callback_parts(ctx().runtime)


def _iso(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).isoformat() if at is not None else None


def _row(r: CallbackRequest, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    return {
        "id": r.id,
        "number": r.number,
        "matter": r.matter,
        "state": r.state.value,
        "due_at": _iso(r.due_at, tz),
        "deadline": _iso(r.deadline, tz),
        "arrived_at": _iso(r.arrived_at, tz),
        "overdue": r.deadline is not None and r.deadline <= now,
        "attempts": r.attempts,
        "language": r.language,
        "branch": r.branch,
        "last_outcome": r.last_outcome,
        "source": r.source,
        "customer_tz": r.tz,
    }


def pending() -> dict[str, Any]:
    """The open requests, soonest due first, and the ledger's counts by state.

    The caller numbers are in full: the read is written to the audit log."""
    user = current_user()
    assert user is not None
    c = ctx()
    now = c.now()
    tz = c.runtime.config.site.tz
    limit = params.int_param("limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
    repo = _parts().repo
    rows = repo.listing(limit=limit)
    counts = repo.count_by_state()
    with c.runtime.sessions.begin() as s:
        store.audit(
            s, "callbacks_read", user=user, target=f"{len(rows)} open", detail="full numbers",
            addr=request.remote_addr or "", at=now,
        )  # fmt: skip
    return {
        "at": now.astimezone(tz).isoformat(),
        "tz": tz.key,
        "limit": limit,
        "count": len(rows),
        "by_state": {s.value: counts.get(s.value, 0) for s in CallbackState},
        "callbacks": [_row(r, tz, now) for r in rows],
    }


def describe(rule: ServiceRule) -> str:
    """What "on time" means under a rule, in words.

    >>> describe(ServiceRule("complaint", RuleKind.WITHIN_DAYS, days=3))
    'called within 3 days'
    """
    if rule.kind is RuleKind.WITHIN_DAYS:
        return ngettext("called within %(num)d day", "called within %(num)d days", rule.days or 0)
    if rule.kind is RuleKind.NEXT_DAY:
        return gettext("called the next day")
    if rule.kind is RuleKind.CONTRACT:
        return gettext("called within %(days)s days of the contract date", days=rule.days or 7)
    if rule.kind is RuleKind.AGREED:
        return gettext("called at the agreed time")
    return gettext("called back")


def rates() -> dict[str, Any]:
    """The callback rate of every configured service rule over the last `days` days."""
    c = ctx()
    now = c.now()
    tz = c.runtime.config.site.tz
    days = params.int_param("days", 1, MAX_DAYS, DEFAULT_DAYS)
    since = now - timedelta(days=days)
    parts = _parts()
    out = []
    for name, rule in parts.settings.rules.items():
        r = callback_rate(parts.repo.rate_items(name, since), now)
        rule_text = describe(rule)
        out.append(
            {
                "rule": name,
                "kind": rule.kind.value,
                "days": rule.days,
                "rule_text": rule_text,
                "target_rate": rule.target_rate,
                "counted": r.counted,
                "on_time": r.on_time,
                "late_or_missed": r.late_or_missed,
                "pending": r.pending,
                "rate": r.rate,
                "meets_target": None if r.rate is None else r.rate >= rule.target_rate,
                "text": gettext(
                    "%(rule)s: %(text)s: %(rate)s (%(on_time)s of %(counted)s)",
                    rule=name,
                    text=rule_text,
                    rate=pct(r.rate),
                    on_time=r.on_time,
                    counted=r.counted,
                ),
            }
        )
    return {
        "at": now.astimezone(tz).isoformat(),
        "since": since.astimezone(tz).isoformat(),
        "days": days,
        "rules": out,
    }


@bp.get("/callbacks")
@require(*STAFF)
def page() -> ResponseReturnValue:
    data = pending()
    return render_template(
        "callbacks.html", data=data, rate=rates(), states=[s.value for s in CallbackState]
    )
