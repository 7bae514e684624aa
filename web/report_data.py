"""Report assembly for the reports page and /api/reports (figures per period, agent,
branch and team; attendance; time away by reason)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy.orm import Session, sessionmaker

from ivr.adapters.db import rollups
from ivr.adapters.db.engine import READ_ONLY
from ivr.adapters.db.speech_stats import speech_counts
from ivr.adapters.db.survey import survey_groups
from ivr.bootstrap import Runtime, callback_parts, case_parts
from ivr.domain import metrics
from ivr.domain.callbacks import callback_rate
from ivr.domain.cases import Case, CaseTally, complaint_rate, tally_cases
from ivr.domain.metrics import Figures, ServiceTarget, Tally
from ivr.domain.survey import SatisfactionTally, SurveyOutcome, tally_counts
from web import store
from web.params import ParamError
from web.settings import WebSettings

DEFAULT_PERIODS = {"day": 14, "week": 8, "month": 6}  # whole periods, the last one holding 'to'
MAX_DAYS = 400


@dataclass(frozen=True)
class ReportRange:
    period: str
    first: date
    last: date  # inclusive

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def report_range(period: str, first: date | None, last: date | None, today: date) -> ReportRange:
    """The days of a report: `last` (default today) back to `first` (default: the first
    day of the period's usual number of whole periods, so the first week or month of a
    default report is not a part of one shown as the whole); at most MAX_DAYS. Dates
    come already bounded (web.params.date_param)."""
    if period not in metrics.PERIODS:
        raise ParamError(
            "period",
            gettext(
                "period %(period)s: use one of %(periods)s",
                period=repr(period),
                periods=", ".join(metrics.PERIODS),
            ),
        )
    end = last or today
    start = first or metrics.periods_back(end, period, DEFAULT_PERIODS[period])
    if start > end:
        raise ParamError(
            "from", gettext("from %(start)s is after to %(end)s", start=start, end=end)
        )
    if (end - start).days + 1 > MAX_DAYS:  # both ends count: 'to' is inclusive
        raise ParamError("from", gettext("at most %(n)s days per report", n=MAX_DAYS))
    return ReportRange(period, start, end)


def figures_json(f: Figures) -> dict[str, Any]:
    return {
        **vars(f.tally),
        "other": f.tally.other,  # turned away or hung up by the system: the parts add up
        "service_level": f.service_level,
        "asa_seconds": f.asa_seconds,
        "aht_seconds": f.aht_seconds,
        "abandon_rate": f.abandon_rate,
    }


def _tally_json(t: CaseTally) -> dict[str, Any]:
    return {**asdict(t), "on_time_rate": t.on_time_rate}


def case_figures(
    rt: Runtime, start: datetime, end: datetime, now: datetime, offered: int
) -> dict[str, Any]:
    """Complaints by class and branch, the complaint rate against its target, on-time
    resolution, and callbacks due and done per service rule (the requests made in
    [start, end), each as it stands at `now`), for [start, end)."""
    complaints = case_parts(rt).repo.complaints(start, end)
    by_class: dict[str, list[Case]] = {k: [] for k in rt.config.cases.rules.classes}
    by_branch: dict[str, list[Case]] = {}
    for c in complaints:
        by_class.setdefault(c.case_class, []).append(c)
        by_branch.setdefault(c.branch or "(ivr)", []).append(c)
    cb = callback_parts(rt)
    rules = []
    for name, rule in cb.settings.rules.items():
        r = callback_rate(cb.repo.rate_items(name, start, end), now)  # requests made in range
        rules.append({"rule": name, "kind": rule.kind.value, "target_rate": rule.target_rate,
                      "due": r.counted, "done_on_time": r.on_time, "late_or_missed":
                      r.late_or_missed, "pending": r.pending, "rate": r.rate})  # fmt: skip
    target = rt.config.cases.complaint_rate_target
    rate = complaint_rate(len(complaints), offered)
    return {
        "complaints": _tally_json(tally_cases(complaints, now)),
        "calls_offered": offered,
        "complaint_rate": rate,
        "complaint_rate_target": target,
        "meets_target": None if rate is None else rate < target,
        "by_class": [{"class": k, **_tally_json(tally_cases(v, now))} for k, v in by_class.items()],
        "by_branch": [
            {"branch": k, **_tally_json(tally_cases(v, now))} for k, v in sorted(by_branch.items())
        ],
        "callbacks": rules,
    }


def build(
    rt: Runtime,
    settings: WebSettings,
    sessions: sessionmaker[Session],
    rng: ReportRange,
    now: datetime,
) -> dict[str, Any]:
    """The report of `rng`: call figures from the daily rollups (`ivr.adapters.db.rollups`,
    today's and any changed day's recomputed first), attendance from the web tables.
    `sessions` is the heavy-request pool (`web.heavy`)."""
    tz = rt.config.site.tz
    start, end = _span(rt, rng)
    target = ServiceTarget(settings.sl_seconds, settings.sl_level)
    got = rollups.summary(sessions, tz, target.seconds, rng.first, rng.last)
    per_period = metrics.grouped_tallies(
        (metrics.period_of(day, rng.period), t) for day, t in got.days
    )
    team_tally = sum((t for _, t in got.days), Tally())
    unknown = metrics.answered_without_agent(team_tally, (t for _, t in got.agents))
    per_agent = metrics.grouped_tallies(
        [*got.agents, *([(metrics.NO_AGENT, unknown)] if unknown.answered else [])]
    )
    per_branch = metrics.grouped_tallies(got.branches)
    team = metrics.figures(team_tally)
    roster = rt.config.roster
    grace = timedelta(minutes=settings.late_grace_minutes)
    days = [d for d in rng.days if datetime.combine(d, time(0), tz) <= now]
    with sessions() as s:
        s.connection(execution_options=READ_ONLY)
        clockings = store.clockings(s, start, end + timedelta(days=1))  # night sign-outs
        changes = store.state_changes(s, start, end)
        sat = satisfaction(rt, s, rng)
        spoken = speech_counts(s, start, end)
    att = metrics.attendance(roster, clockings, days, now, grace)
    away = metrics.away_seconds(changes, start, min(end, now))
    attendance_rows = []
    for a in roster.agents:
        mine = [x for x in att if x.agent_id == a.id]
        attendance_rows.append(
            {
                "agent": a.id,
                "name": a.name,
                "scheduled_days": sum(1 for x in mine if x.scheduled_start is not None),
                "late_sign_ins": sum(1 for x in mine if x.late_minutes > 0 and not x.not_signed_in),
                "not_signed_in": sum(1 for x in mine if x.not_signed_in),
                "late_minutes": round(sum(x.late_minutes for x in mine if not x.not_signed_in), 1),
                "missing_sign_outs": sum(1 for x in mine if x.missing_sign_out),
                "away_minutes": {
                    r: round(sec / 60, 1) for (ag, r), sec in sorted(away.items()) if ag == a.id
                },
            }
        )
    return {
        "cases": case_figures(rt, start, end, now, team.tally.offered),
        "period": rng.period,
        "from": rng.first.isoformat(),
        "to": rng.last.isoformat(),
        "target": {"seconds": target.seconds, "level": target.level},
        "team": figures_json(team),
        "periods": [{"start": str(k), **figures_json(v)} for k, v in per_period.items()],
        "agents": [{"agent": str(k), **figures_json(v)} for k, v in per_agent.items()],
        "branches": [{"branch": str(k), **figures_json(v)} for k, v in per_branch.items()],
        "attendance": attendance_rows,
        "satisfaction": sat,
        "speech": {
            "menu_choices": spoken.choices,
            "spoken": spoken.spoken,
            "share": spoken.share,
            "failures": spoken.failures,
        },
    }


def _span(rt: Runtime, rng: ReportRange) -> tuple[datetime, datetime]:
    tz = rt.config.site.tz
    start = datetime.combine(rng.first, time(0), tz)
    return start, datetime.combine(rng.last + timedelta(days=1), time(0), tz)


def satisfaction(rt: Runtime, s: Session, rng: ReportRange) -> dict[str, Any]:
    """Survey figures (REQUIREMENTS §6.1) for the team, per period, agent and branch.

    Counted in SQL (one GROUP BY); a survey counts in the period its survey ended;
    `rate` is satisfied ÷ scored."""
    start, end = _span(rt, rng)
    policy, tz = rt.config.survey, rt.config.site.tz
    periods = sorted(
        {metrics.period_start(datetime.combine(d, time(12), tz), tz, rng.period) for d in rng.days}
    )
    starts = [max(start, datetime.combine(p, time(0), tz)) for p in periods]
    groups = survey_groups(s, start, end, starts)

    def grouped(key: Any) -> dict[str, SatisfactionTally]:
        acc: dict[str, list[tuple[SurveyOutcome, int | None, int]]] = {}
        for g in groups:
            acc.setdefault(str(key(g)), []).append((g.outcome, g.score, g.count))
        return {k: tally_counts(v, policy) for k, v in sorted(acc.items())}

    return {
        "scale": {"low": policy.low, "high": policy.high, "satisfied_from": policy.satisfied_from},
        "team": _satisfaction_json(
            tally_counts(((g.outcome, g.score, g.count) for g in groups), policy)
        ),
        "periods": [
            {"start": k, **_satisfaction_json(v)}
            for k, v in grouped(lambda g: periods[g.period]).items()
        ],
        "agents": [
            {"agent": k, **_satisfaction_json(v)}
            for k, v in grouped(lambda g: g.agent_id or g.seat).items()
        ],
        "branches": [
            {"branch": k, **_satisfaction_json(v)} for k, v in grouped(lambda g: g.branch).items()
        ],
    }


def _satisfaction_json(t: SatisfactionTally) -> dict[str, Any]:
    return {**asdict(t), "average": t.average, "rate": t.rate}
