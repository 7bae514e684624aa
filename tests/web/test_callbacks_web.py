"""Callbacks page and API for supervisors: pending requests with numbers and due times,
counts by state, the callback rate per service rule; agents refused, reads audited."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from ivr.adapters.db.callbacks import CallbackRepo
from ivr.adapters.db.models_web import AuditEntry
from ivr.app.callbacks import NewRequest
from ivr.bootstrap import Runtime
from ivr.domain.callbacks import (
    AttemptOutcome,
    CallbackRequest,
    CallbackState,
    ClaimDecision,
    Dial,
    Plan,
    Skip,
)

S = CallbackState


def _new(number: str, matter: str, at: datetime, **kw: object) -> NewRequest:
    values: dict[str, object] = {
        "number": number,
        "matter": matter,
        "source": "rule",
        "arrived_at": at,
        "due_at": at,
        "tz": "Asia/Shanghai",
        "language": "en",
        "branch": "complaints",
    }
    values.update(kw)
    return NewRequest(**values)  # type: ignore[arg-type]


def _complete(repo: CallbackRepo, req: CallbackRequest, at: datetime) -> None:
    """Dial `req` at `at` and have the customer answer: completed at `at`."""

    def only(r: CallbackRequest) -> ClaimDecision:
        return Dial("seat1", "lead") if r.id == req.id else Skip("not this test's")

    def done(r: CallbackRequest, o: AttemptOutcome, made: int) -> Plan:
        return Plan(S.COMPLETED, None, "customer answered")

    (claim,) = repo.claim_due(at, 50, "test", only, max_dials=1)
    assert repo.mark_connected(claim.attempt.action_id, at)
    repo.finish_attempt(claim.attempt.action_id, AttemptOutcome.ANSWERED, at, done)


@pytest.fixture
def repo(web_runtime: Runtime) -> CallbackRepo:
    from ivr.bootstrap import callback_parts

    return callback_parts(web_runtime).repo


def _audits(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "callbacks_read")))


def test_supervisor_sees_pending_callback_with_number_and_due_time(
    client, web_users, login, repo, t0, web_runtime
) -> None:
    added = repo.add(
        _new("13800000009", "visitor:2611-0001", t0, due_at=t0 + timedelta(hours=2)), t0
    ).request
    login(client, "lead")
    html = client.get("/callbacks").get_data(as_text=True)
    assert added.number in html
    assert "Nov 23, 2026, 12:00" in html  # due time in the hotline's zone (Asia/Shanghai)
    assert "visitor:2611-0001" in html and "scheduled" in html
    assert 'href="/callbacks"' in html  # nav link for supervisors

    data = client.get("/api/callbacks").get_json()
    (row,) = data["callbacks"]
    assert row["number"] == added.number
    assert row["due_at"] == "2026-11-23T12:00:00+08:00"
    assert row["state"] == "scheduled" and row["attempts"] == 0
    assert row["language"] == "en" and row["branch"] == "complaints"
    assert data["by_state"]["scheduled"] == 1 and data["by_state"]["completed"] == 0
    assert data["tz"] == "Asia/Shanghai"
    # full numbers are shown: both reads are in the audit log
    assert [a.username for a in _audits(web_runtime)] == ["lead", "lead"]


def test_callback_rate_per_rule(client, web_users, login, repo, t0) -> None:
    day = timedelta(days=1)
    # on time: completed one hour after the request, deadline three days on
    for n, start in ((1, t0 - 2 * day), (2, t0 - day)):
        req = repo.add(
            _new(f"1380000000{n}", f"complaint:2611-000{n}", start, deadline=start + 3 * day),
            start,
        ).request
        _complete(repo, req, start + timedelta(hours=1))
    # missed: still open four days on, its deadline a day ago
    repo.add(
        _new("13800000003", "complaint:2611-0003", t0 - 4 * day, deadline=t0 - day), t0 - 4 * day
    )
    # not counted: cancelled; pending: open before its deadline
    gone = repo.add(
        _new("13800000004", "complaint:2611-0004", t0 - day, deadline=t0 + 2 * day), t0 - day
    ).request
    repo.cancel(gone.id, t0 - day + timedelta(hours=1))
    repo.add(_new("13800000005", "complaint:2611-0005", t0, deadline=t0 + 3 * day), t0)
    # another rule's request does not count for complaints
    repo.add(_new("13800000006", "visitor:2611-0006", t0, deadline=t0 + day), t0)

    login(client, "boss")
    rules = {r["rule"]: r for r in client.get("/api/callbacks/rate").get_json()["rules"]}
    c = rules["complaint"]
    assert (c["counted"], c["on_time"], c["late_or_missed"], c["pending"]) == (3, 2, 1, 1)
    assert c["rate"] == pytest.approx(2 / 3)
    assert c["meets_target"] is False  # target 100 %
    assert c["text"] == "complaint: called within 3 days: 66.7% (2 of 3)"
    assert rules["visitor"]["counted"] == 0 and rules["visitor"]["pending"] == 1

    html = client.get("/callbacks").get_data(as_text=True)
    assert "66.7%" in html and "(2 of 3)" in html and "called within 3 days" in html

    by_state = client.get("/api/callbacks").get_json()["by_state"]
    assert by_state["completed"] == 2 and by_state["cancelled"] == 1

    # a window that leaves the older requests out
    c1 = {r["rule"]: r for r in client.get("/api/callbacks/rate?days=1").get_json()["rules"]}[
        "complaint"
    ]
    assert c1["counted"] == 1 and c1["pending"] == 1


def test_agents_are_refused_and_anonymous_gets_401(client, web_users, login) -> None:
    for path in ("/api/callbacks", "/api/callbacks/rate"):
        r = client.get(path)
        assert r.status_code == 401 and r.get_json() == {"error": "authentication required"}
    assert client.get("/callbacks").status_code == 302  # to the sign-in page
    login(client, "chen")
    assert client.get("/callbacks").status_code == 403
    for path in ("/api/callbacks", "/api/callbacks/rate"):
        assert client.get(path).status_code == 403, path
    assert 'href="/callbacks"' not in client.get("/calls").get_data(as_text=True)


def test_every_staff_role_may_read_and_bad_arguments_are_refused(client, web_users, login) -> None:
    for user in ("lead", "boss", "root"):
        c = client.application.test_client()  # a fresh session per user
        login(c, user)
        assert c.get("/callbacks").status_code == 200, user
        assert c.get("/api/callbacks").get_json()["callbacks"] == []
        assert c.get("/api/callbacks/rate").status_code == 200
    assert c.get("/api/callbacks/rate?days=0").status_code == 400
    assert c.get("/api/callbacks/rate?days=x").status_code == 400
    assert c.get("/api/callbacks?limit=5000").status_code == 400


def test_agent_sees_the_open_callbacks_of_callers_she_answered(
    client, web_users, login, repo, calls, t0
) -> None:
    # chen answered 13800000021 yesterday; li answered 13800000022: first-contact ownership.
    calls.call(t0 - timedelta(days=1), caller="13800000021", agent="chen", wait=5, talk=60)
    calls.call(t0 - timedelta(days=1), caller="13800000022", agent="li", wait=5, talk=60)
    mine = repo.add(_new("13800000021", "ivr", t0, due_at=t0 + timedelta(hours=1)), t0).request
    repo.add(_new("13800000022", "ivr", t0), t0)
    done = repo.add(_new("13800000021", "complaint:202611-0007", t0), t0).request
    _complete(repo, done, t0)
    login(client, "chen")
    html = client.get("/agent").get_data(as_text=True)
    section = html.split("My callbacks due", 1)[1].split("</section>", 1)[0]
    assert mine.number in section and "Nov 23, 2026, 11:00" in section  # due, in the hotline's zone
    assert "13800000022" not in section  # li's matter, not chen's
    assert "complaint:202611-0007" not in section  # completed: no longer due


def test_the_report_counts_the_callbacks_requested_in_its_range_only(
    client, web_users, login, repo, t0
) -> None:
    """A report of a past fortnight counted every request made since its first day,
    up to today; now the requests made in [from, to] (the site's days), no later."""
    day = timedelta(days=1)
    nov13 = t0.replace(month=11, day=13, hour=0, minute=0)  # 00:00 Asia/Shanghai
    second = timedelta(seconds=1)
    made = {
        "before": nov13 - second,
        "first": nov13,
        "last": nov13 + 2 * day - second,
        "after": nov13 + 2 * day,
        "later": t0 - day,
    }
    for n, (name, at) in enumerate(made.items()):
        repo.add(_new(f"1380000010{n}", f"complaint:{name}", at, deadline=at + day), at)
    login(client, "boss")
    rep = client.get("/api/reports?period=day&from=2026-11-13&to=2026-11-14").get_json()
    complaint = next(r for r in rep["cases"]["callbacks"] if r["rule"] == "complaint")
    assert (complaint["due"], complaint["late_or_missed"], complaint["pending"]) == (2, 2, 0)
