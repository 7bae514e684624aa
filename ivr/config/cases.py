"""Load and validate config/cases.yaml: classes, deadline terms, escalation, callbacks.

Like the rest of `ivr.config`, a problem is refused with a ConfigError naming the
file, the item and the reason; unknown keys are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from ivr.config.reader import MAX_NAME, Cursor, is_word, read_yaml
from ivr.config.schema import check_file
from ivr.domain.callbacks import RuleKind, ServiceRule
from ivr.domain.cases import CaseClass, CaseKind, CaseRules, CaseState, Term, TimeBasis

FILE = "cases.yaml"
MAX_HOURS = 24 * 366
MAX_WORKING_DAYS = 250
MAX_CLASS_NAME = 32  # a case class: a word shown in lists and numbers


@dataclass(frozen=True)
class CaseSettings:
    rules: CaseRules
    complaint_callback: str | None  # callbacks.yaml rule names ("" / None: none)
    visitor_callback: str | None
    contract_callback: str | None
    contract_horizon_months: int
    ivr_term: str
    ivr_class: str
    ivr_matter: str
    ivr_branch: str
    complaint_rate_target: float
    sweep_seconds: float = 60.0
    # callbacks.yaml rule -> the state an active case moves to when that callback is done
    on_done: Mapping[str, CaseState] = field(default_factory=dict)


def load_cases_config(
    directory: Path, service_rules: Mapping[str, ServiceRule], branches: Iterable[str]
) -> CaseSettings:
    """Read and validate `directory`/cases.yaml; callback rules must exist in callbacks.yaml."""
    data = read_yaml(Path(directory), FILE)
    check_file(FILE, data)
    c = Cursor(FILE, data)
    classes = _classes(c.child("classes"))
    terms = _terms(c.child("terms"))
    defaults = _defaults(c.child("deadlines"), classes, terms)
    esc = c.opt("escalation", {})
    rules = CaseRules(
        classes=classes,
        terms=terms,
        defaults=defaults,
        lead_share=_share(esc.opt("lead_at_share", 0.5)),
        near=timedelta(hours=_hours(esc.opt("near_hours", 24))),
    )
    cb = c.opt("callbacks", {})
    ivr = c.opt("ivr", {})
    ivr_term = ivr.opt("after_hours_term", "departed")
    if ivr_term.text() not in terms:
        raise ivr_term.fail(f"no term {ivr_term.data!r} under terms")
    complaint = _rule(cb.opt("complaint", None), service_rules, None)
    visitor = _rule(cb.opt("visitor", None), service_rules, RuleKind.NEXT_DAY)
    contract = _rule(cb.opt("contract", None), service_rules, RuleKind.CONTRACT)
    settings = CaseSettings(
        rules=rules,
        complaint_callback=complaint,
        visitor_callback=visitor,
        contract_callback=contract,
        contract_horizon_months=_bounded_int(cb.opt("contract_horizon_months", 24), 1, 120),
        ivr_term=ivr_term.text(),
        ivr_class=ivr.opt("class", next(iter(classes))).choice(tuple(classes)),
        ivr_matter=ivr.opt("matter", "IVR complaint (after hours)").line(200),
        ivr_branch=ivr.opt("branch", "complaints").choice(tuple(branches)),
        complaint_rate_target=_share(c.opt("reports", {}).opt("complaint_rate_target", 0.01)),
        sweep_seconds=float(_bounded_int(esc.opt("sweep_seconds", 60), 1, 3600)),
        on_done=_on_done(cb.opt("on_done", {}), {r for r in (complaint, visitor, contract) if r}),
    )
    c.check_unknown()
    return settings


def _hours(c: Cursor) -> float:
    h = c.number()
    if not 0 < h <= MAX_HOURS:
        raise c.fail(f"must be in (0, {MAX_HOURS}], got {h}")
    return h


def _bounded_int(c: Cursor, low: int, high: int) -> int:
    n = c.integer(low)
    if n > high:
        raise c.fail(f"must be at most {high}, got {n}")
    return n


def _share(c: Cursor) -> float:
    if isinstance(c.data, bool) or not isinstance(c.data, int | float):
        raise c.fail(f"must be a number, got {c.data!r}")
    v = float(c.data)
    if not 0 < v <= 1:
        raise c.fail(f"must be in (0, 1], got {v}")
    return v


def _classes(c: Cursor) -> dict[str, CaseClass]:
    out: dict[str, CaseClass] = {}
    for name, k in c.items():
        if not is_word(name, "_", most=MAX_CLASS_NAME):
            raise k.fail(f"class name {name!r} must be a plain word (letters, digits, _)")
        out[name] = CaseClass(
            name,
            k.opt("definition", name).line(500),
            k.opt("escalate_at_once", False).boolean(),
        )
    if not out:
        raise c.fail("at least one class is needed")
    return out


def _terms(c: Cursor) -> dict[str, Term]:
    out: dict[str, Term] = {}
    for name, t in c.items():
        if not is_word(name, "_"):
            raise t.fail(
                f"term name {name!r} must be a plain word (letters, digits, _), at most {MAX_NAME}"
            )
        hours, days = t.opt("hours", None), t.opt("working_days", None)
        basis = TimeBasis(t.opt("time", "calendar").choice(tuple(b.value for b in TimeBasis)))
        if (hours.data is None) == (days.data is None):
            raise t.fail("give hours or working_days, one of them")
        if hours.data is not None:
            out[name] = Term(name, hours=_hours(hours), basis=basis)
        else:
            out[name] = Term(name, working_days=_bounded_int(days, 1, MAX_WORKING_DAYS))
    if not out:
        raise c.fail("at least one term is needed")
    return out


def _defaults(
    c: Cursor, classes: Mapping[str, CaseClass], terms: Mapping[str, Term]
) -> dict[CaseKind, dict[str, str]]:
    out: dict[CaseKind, dict[str, str]] = {}
    for kind_name, per in c.items():
        if kind_name not in tuple(k.value for k in CaseKind):
            raise per.fail(f"unknown case kind {kind_name!r} (use {', '.join(CaseKind)})")
        table: dict[str, str] = {}
        for cls, term in per.items():
            if cls != "*" and cls not in classes:
                raise term.fail(f"no class {cls!r} under classes")
            if term.text() not in terms:
                raise term.fail(f"no term {term.data!r} under terms")
            table[cls] = term.text()
        out[CaseKind(kind_name)] = table
    for kind in CaseKind:
        table = out.get(kind, {})
        if "*" not in table and not set(classes) <= set(table):
            raise c.fail('no deadline for every class (add "*")', f"deadlines.{kind.value}")
    return out


def _rule(c: Cursor, service_rules: Mapping[str, ServiceRule], kind: RuleKind | None) -> str | None:
    if c.data is None or c.data == "":
        return None
    name = c.text()
    rule = service_rules.get(name)
    if rule is None:
        raise c.fail(f"no rule {name!r} under rules in callbacks.yaml")
    if kind is not None and rule.kind is not kind:
        raise c.fail(f"rule {name!r} is {rule.kind.value}, not {kind.value}")
    return name


ON_DONE_STATES = (CaseState.IN_PROGRESS, CaseState.WAITING_CUSTOMER, CaseState.RESOLVED)
"""Where a completed callback may move its case. Not `closed`: a person closes a case
(closing cancels the other callbacks, which the ledger's transaction must not do from
inside a callback's own lock: the lock order is callbacks, then the case)."""


def _on_done(c: Cursor, rules: set[str]) -> dict[str, CaseState]:
    """callbacks.on_done: {rule: state}; the rule one of those above, "" = the case stays."""
    out: dict[str, CaseState] = {}
    for name, state in c.items():
        if name not in rules:
            raise state.fail(f"no case callback rule {name!r} (use {', '.join(sorted(rules))})")
        if state.data in (None, ""):
            continue
        out[name] = CaseState(state.choice(tuple(s.value for s in ON_DONE_STATES)))
    return out
