"""Builds the callback parts from the composition root's `Runtime`.

Kept here until the lead folds it into ivr/bootstrap.py (a `Runtime.callbacks`
property): nothing else constructs the dialer, its repository or its link.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ivr.adapters.db.callbacks import CallbackRepo
from ivr.app.callbacks import CallbackIntake
from ivr.bootstrap import Runtime
from ivr.config_callbacks import CallbackSettings
from ivr.dialer.link import DialerLink
from ivr.dialer.worker import Dialer, DialerDeps
from ivr.domain.callbacks import CallingRules


@dataclass(frozen=True)
class CallbackParts:
    settings: CallbackSettings
    rules: CallingRules
    repo: CallbackRepo
    intake: CallbackIntake


def callback_parts(rt: Runtime, settings: CallbackSettings | None = None) -> CallbackParts:
    s = settings or rt.config.callbacks
    rules = s.calling_rules(rt.config.calendar.holidays)
    repo = CallbackRepo(rt.sessions)
    intake = CallbackIntake(repo, rules, s.retry, s.rules, s.intake.matter, rt.clock)
    return CallbackParts(s, rules, repo, intake)


def build_dialer(
    rt: Runtime, parts: CallbackParts | None = None, name: str | None = None
) -> Dialer:
    p = parts or callback_parts(rt)
    c = rt.config
    deps = DialerDeps(
        repo=p.repo,
        intake=p.intake,
        settings=p.settings,
        rules=p.rules,
        roster=c.roster,
        policy=c.policy,
        presence=rt.presence_repo,
        clock=rt.clock,
    )
    return Dialer(deps, DialerLink(c.ami), name)


def start_dialer_thread(rt: Runtime) -> tuple[Dialer, threading.Thread]:
    """For `hotline up`: the dialer beside the service, stopped with `dialer.stop()`."""
    dialer = build_dialer(rt)
    thread = threading.Thread(target=dialer.run, name="callback-dialer", daemon=True)
    thread.start()
    return dialer, thread
