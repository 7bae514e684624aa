"""Reports with charts: per day, week, month, agent, team and menu branch; attendance."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from markupsafe import Markup

from ivr.domain import metrics
from web import params, report_data
from web.charts import Series, bars
from web.context import ctx
from web.heavy import heavy, heavy_sessions
from web.security import STAFF, require

bp = Blueprint("reports", __name__)

VOLUME_TITLES = {
    "day": lazy_gettext("Calls offered per day"),
    "week": lazy_gettext("Calls offered per week"),
    "month": lazy_gettext("Calls offered per month"),
}


def load_report() -> dict[str, Any]:
    """The report the query asks for (run it in a heavy slot: `web.heavy`)."""
    c = ctx()
    now = c.now()
    rng = report_data.report_range(
        params.choice_param("period", metrics.PERIODS, "day"),
        params.date_param("from"),
        params.date_param("to"),
        now.astimezone(c.runtime.config.site.tz).date(),
    )
    return report_data.build(c.runtime, c.settings, heavy_sessions(), rng, now)


def _charts(rep: dict[str, Any]) -> dict[str, Markup]:
    answered, in_queue = gettext("answered"), gettext("abandoned in queue")
    in_menu = gettext("abandoned in menu")
    p = rep["periods"]
    labels = [x["start"][5:] if rep["period"] != "month" else x["start"][:7] for x in p]
    volume = bars(
        labels,
        [
            Series(answered, [x["answered"] for x in p], "#2e7d32"),
            Series(in_queue, [x["abandoned_in_queue"] for x in p], "#c62828"),
            Series(in_menu, [x["abandoned_in_menu"] for x in p], "#f9a825"),
            Series(
                gettext("voicemail/callback"),
                [x["voicemail"] + x["callback"] for x in p],
                "#78909c",
            ),
            Series(gettext("other"), [x["other"] for x in p], "#bdbdbd"),
        ],
        str(VOLUME_TITLES[rep["period"]]),
        line=Series(gettext("service level"), [x["service_level"] for x in p], "#1565c0"),
    )
    agents = rep["agents"]
    per_agent = bars(
        [a["agent"] for a in agents],
        [Series(answered, [a["answered"] for a in agents], "#2e7d32")],
        gettext("Answered per agent"),
        line=Series(
            gettext("answered within target"),
            [
                (a["answered_within_target"] / a["answered"]) if a["answered"] else None
                for a in agents
            ],
            "#1565c0",
        ),
    )
    br = rep["branches"]
    per_branch = bars(
        [b["branch"] for b in br],
        [
            Series(answered, [b["answered"] for b in br], "#2e7d32"),
            Series(in_queue, [b["abandoned_in_queue"] for b in br], "#c62828"),
            Series(in_menu, [b["abandoned_in_menu"] for b in br], "#f9a825"),
        ],
        gettext("Calls per menu branch"),
    )
    return {
        "volume": volume,
        "agents": per_agent,
        "branches": per_branch,
        "satisfaction": _satisfaction_chart(rep["satisfaction"]),
        **_case_charts(rep["cases"]),
    }


def _satisfaction_chart(sat: dict[str, Any]) -> Markup:
    """Survey outcomes per agent (stacked) with the satisfaction rate as the line."""
    agents = sat["agents"]
    return bars(
        [a["agent"] for a in agents],
        [
            Series(gettext("satisfied"), [a["satisfied"] for a in agents], "#2e7d32"),
            Series(
                gettext("not satisfied"),
                [a["scored"] - a["satisfied"] for a in agents],
                "#f9a825",
            ),
            Series(gettext("not resolved"), [a["not_resolved"] for a in agents], "#c62828"),
            Series(
                gettext("left or no answer"),
                [a["left"] + a["no_answer"] for a in agents],
                "#78909c",
            ),
        ],
        gettext("Satisfaction survey per agent"),
        line=Series(gettext("satisfaction rate"), [a["rate"] for a in agents], "#1565c0"),
    )


def _case_charts(cases: dict[str, Any]) -> dict[str, Markup]:
    on_time, late = gettext("done on time"), gettext("done late")
    overdue, pending = gettext("overdue"), gettext("pending")

    def chart(rows: list[dict[str, Any]], key: str, title: str) -> Markup:
        return bars(
            [r[key] for r in rows],
            [
                Series(on_time, [r["done_on_time"] for r in rows], "#2e7d32"),
                Series(late, [r["done_late"] for r in rows], "#f9a825"),
                Series(overdue, [r["open_overdue"] for r in rows], "#c62828"),
                Series(pending, [r["open_pending"] for r in rows], "#78909c"),
            ],
            title,
            line=Series(
                gettext("on-time resolution"), [r["on_time_rate"] for r in rows], "#1565c0"
            ),
        )

    cb = cases["callbacks"]
    return {
        "case_classes": chart(cases["by_class"], "class", gettext("Complaints by class")),
        "case_branches": chart(cases["by_branch"], "branch", gettext("Complaints by branch")),
        "case_callbacks": bars(
            [r["rule"] for r in cb],
            [
                Series(on_time, [r["done_on_time"] for r in cb], "#2e7d32"),
                Series(gettext("late or missed"), [r["late_or_missed"] for r in cb], "#c62828"),
                Series(pending, [r["pending"] for r in cb], "#78909c"),
            ],
            gettext("Callbacks due and done per rule"),
            line=Series(gettext("callback rate"), [r["rate"] for r in cb], "#1565c0"),
        ),
    }


@bp.get("/reports")
@require(*STAFF)
@heavy
def page() -> ResponseReturnValue:
    rep = load_report()
    return render_template("reports.html", rep=rep, charts=_charts(rep))
