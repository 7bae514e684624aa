"""cases.yaml: the sample loads; bad classes, terms, deadlines and rules are refused by item."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_files import edit

from ivr.config import ConfigError, load_config
from ivr.domain.cases import CaseKind, CaseState, TimeBasis


def test_the_sample_loads_with_the_handbook_defaults(config_dir: Path) -> None:
    cases = load_config(config_dir, env={}).cases
    rules = cases.rules
    assert list(rules.classes) == ["major", "important", "minor"]
    assert rules.classes["major"].escalate_at_once and not rules.classes["minor"].escalate_at_once
    assert rules.term_for(CaseKind.COMPLAINT, "major").hours == 24
    assert rules.term_for(CaseKind.COMPLAINT, "minor").hours == 72
    assert rules.term_for(CaseKind.REQUEST, "minor").working_days == 3
    assert rules.term_for(CaseKind.FOLLOW_UP, "minor").hours == 1
    assert rules.terms["engineering"].basis is TimeBasis.CALENDAR
    assert (cases.complaint_callback, cases.visitor_callback, cases.contract_callback) == (
        "complaint",
        "visitor",
        "contract",
    )
    assert cases.ivr_term == "departed" and cases.complaint_rate_target == 0.01
    assert cases.on_done == {"complaint": CaseState.RESOLVED}  # visitor, contract: the case stays


@pytest.mark.parametrize(
    ("old", "new", "item", "reason"),
    [
        ("  minor:\n", "  minor:\n    escalate: true\n", "classes.minor.escalate", "unknown key"),
        ("on_site: {hours: 24}", "on_site: {hours: 0}", "terms.on_site.hours", "positive"),
        ("on_site: {hours: 24}", "on_site: {hours: 24, working_days: 2}", "terms.on_site",
         "one of them"),
        ("on_site: {hours: 24}", "on_site: {hours: 24, time: lunar}", "terms.on_site.time", ""),
        ("appeal: {working_days: 3}", "appeal: {working_days: 9999}",
         "terms.appeal.working_days", "at most"),
        ("request: {\"*\": appeal}", "request: {\"*\": never}", "deadlines.request.*", "no term"),
        ("request: {\"*\": appeal}", "request: {huge: appeal}", "deadlines.request.huge",
         "no class"),
        ("follow_up: {\"*\": engineering}", "followup: {\"*\": engineering}",
         "deadlines.followup", "unknown key 'followup'; did you mean 'follow_up'?"),
        ("lead_at_share: 0.5", "lead_at_share: 1.5", "escalation.lead_at_share", "(0, 1]"),
        ("complaint: complaint ", "complaint: nosuchrule ", "callbacks.complaint", "no rule"),
        ("visitor: visitor ", "visitor: complaint ", "callbacks.visitor", "not next_day"),
        ("after_hours_term: departed", "after_hours_term: soon", "ivr.after_hours_term",
         "no term"),
        ("class: important", "class: catastrophic", "ivr.class", ""),
        ("complaint_rate_target: 0.01", "complaint_rate_target: \"1%\"",
         "reports.complaint_rate_target", "number"),
        ("    complaint: resolved", "    complaint: reopened", "callbacks.on_done.complaint",
         "one of"),
        ("    complaint: resolved", "    complaint: closed", "callbacks.on_done.complaint",
         "one of"),
        ("    complaint: resolved", "    asap: resolved", "callbacks.on_done.asap",
         "no case callback rule"),
    ],
)  # fmt: skip
def test_a_bad_cases_file_is_refused_by_item(
    config_dir: Path, old: str, new: str, item: str, reason: str
) -> None:
    edit(config_dir, "cases.yaml", old, new)
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert (err.value.file, err.value.item) == ("cases.yaml", item)
    assert reason in err.value.reason


def test_a_kind_without_a_deadline_for_every_class_is_refused(config_dir: Path) -> None:
    edit(config_dir, "cases.yaml", 'request: {"*": appeal}', "request: {minor: appeal}")
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert err.value.item == "deadlines.request"


def test_a_missing_cases_file_is_refused(config_dir: Path) -> None:
    (config_dir / "cases.yaml").unlink()
    with pytest.raises(ConfigError) as err:
        load_config(config_dir, env={})
    assert err.value.file == "cases.yaml"
