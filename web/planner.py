"""Staffing planner: seats needed per half hour by Erlang C, next to the roster."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from ivr.bootstrap import Runtime
from ivr.domain.erlang import forecast_slots, plan_day
from ivr.domain.metrics import ServiceTarget
from web import params, queries
from web.charts import Series, bars
from web.context import ctx
from web.heavy import heavy, heavy_db
from web.security import STAFF, require
from web.settings import WebSettings

DEFAULT_AHT = 180.0

bp = Blueprint("planner", __name__)


def build_plan(rt: Runtime, settings: WebSettings, s: Any, day: date) -> dict[str, Any]:
    """Forecast = mean calls per half hour on the same weekday over the last N weeks."""
    tz = rt.config.site.tz
    weeks = settings.planner_weeks
    day_start = datetime.combine(day, time(0), tz)
    hist_start = day_start - timedelta(days=7 * weeks)
    starts = queries.call_starts(s, hist_start, day_start)
    slots = forecast_slots(starts, tz, day.weekday(), weeks)
    aht = queries.mean_talk(s, hist_start, day_start) or DEFAULT_AHT
    target = ServiceTarget(settings.sl_seconds, settings.sl_level)
    rows = plan_day(rt.config.roster, rt.config.staffing, day, slots, aht, target)
    return {
        "day": day.isoformat(),
        "weeks": weeks,
        "aht_seconds": aht,
        "target": {"seconds": target.seconds, "level": target.level},
        "rows": [
            {
                "start": r.start.strftime("%H:%M"),
                "calls": round(r.calls, 2),
                "erlangs": round(r.traffic, 2),
                "needed": r.needed,
                "needed_over": r.needed_over,  # more than needed - 1: Erlang C's bound
                "minimum": r.minimum,
                "rostered": r.rostered,
                "rostered_ordinary": r.rostered_ordinary,
                "short_by": r.short_by,
                "predicted_level": r.predicted_level,
            }
            for r in rows
        ],
    }


def plan_from_request() -> dict[str, Any]:
    c = ctx()
    today = c.now().astimezone(c.runtime.config.site.tz).date()
    day = params.date_param("date", today)
    assert day is not None
    return build_plan(c.runtime, c.settings, heavy_db(), day)


@bp.get("/planner")
@require(*STAFF)
@heavy
def page() -> ResponseReturnValue:
    plan = plan_from_request()
    rows = plan["rows"]
    chart = bars(
        [r["start"] for r in rows],
        [
            Series(gettext("needed (Erlang C)"), [r["needed"] for r in rows], "#1565c0"),
            Series(gettext("rostered"), [r["rostered"] for r in rows], "#2e7d32"),
            Series(gettext("minimum"), [r["minimum"] for r in rows], "#f9a825"),
        ],
        gettext("Seats per half hour"),
        stacked=False,
        width=960,
    )
    return render_template("planner.html", plan=plan, chart=chart)
