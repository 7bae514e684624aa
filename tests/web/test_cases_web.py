"""Cases on the web, both databases: the agent opens a case from the call in progress;
roles (agents their own, supervisors the team, managers all); the board; reads and
changes audited; the weekly review export; the API in the OpenAPI document; hostile
input answered 400/403/404/409 naming the item, never 500."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from conftest import CallBuilder, FixedClock
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.adapters.db.models_web import AuditEntry
from ivr.bootstrap import Runtime, case_parts


def _api(client: FlaskClient, method: str, path: str, body: Any = None) -> Any:
    token = client.get("/api/me").get_json()["csrf_token"]
    return getattr(client, method)(path, json=body, headers={"X-CSRF-Token": token})


def _audit(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.sessions() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(r.username, r.action, r.target) for r in rows if r.action.startswith("case")]


@pytest.fixture
def live_call(web_runtime: Runtime, calls: CallBuilder, t0: Any) -> str:
    """chen is talking to +8613800000009 right now."""
    return calls.call(
        t0 - timedelta(minutes=2), caller="13800000009", branch="complaints", agent="chen",
        wait=5, ended=False,
    )  # fmt: skip


def test_agent_opens_a_case_from_the_call_in_progress(
    client: FlaskClient, web_users: dict[str, str], login: Any, csrf: Any,
    web_runtime: Runtime, live_call: str,
) -> None:  # fmt: skip
    login(client, "chen")
    page = client.get("/agent").get_data(as_text=True)
    assert 'id="open-case"' in page and f'value="{live_call}"' in page
    r = client.post(
        "/cases",
        data={"csrf_token": csrf(page), "call": live_call, "kind": "complaint",
              "class": "important", "matter": "heater broken", "summary": "third time"},
    )  # fmt: skip
    assert r.status_code == 302 and r.headers["Location"].endswith("/cases/202611-0001")
    shown = client.get("/cases/202611-0001").get_data(as_text=True)
    assert "heater broken" in shown and "third time" in shown and live_call in shown
    assert "complaint:202611-0001" in shown  # its callback
    agent_page = client.get("/agent").get_data(as_text=True)
    assert 'id="active-case"' in agent_page and 'data-case="202611-0001"' in agent_page
    me = client.get("/api/cases").get_json()
    assert [c["case_no"] for c in me["cases"]] == ["202611-0001"]
    assert me["cases"][0]["owner"] == "chen" and "summary" not in me["cases"][0]
    assert _audit(web_runtime) == [
        ("chen", "case_open", "202611-0001"),
        ("chen", "case_read", "202611-0001"),
    ]


def test_api_open_update_roles_and_board(
    client: FlaskClient, app: Any, web_users: dict[str, str], login: Any,
    web_runtime: Runtime, live_call: str,
) -> None:  # fmt: skip
    login(client, "chen")
    r = _api(client, "post", "/api/cases",
             {"call": live_call, "class": "major", "matter": "gas smell"})  # fmt: skip
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["case_no"] == "202611-0001"
    assert body["deadline"] == "2026-11-24T10:00:00+08:00"  # major: 24 h
    assert [c["matter"] for c in body["callbacks"]] == ["complaint:202611-0001"]
    assert body["case"]["escalation"] == "lead"  # major: to the supervisor at once
    r = _api(client, "post", "/api/cases/202611-0001", {"state": "in_progress", "note": "on it"})
    assert r.status_code == 200 and r.get_json()["state"] == "in_progress"
    r = _api(client, "post", "/api/cases/202611-0001", {"state": "reopened"})
    assert r.status_code == 409
    r = _api(client, "post", "/api/cases/202611-0001", {"owner": "li"})
    assert r.status_code == 403  # agents do not hand cases over

    other = app.test_client()
    login(other, "li")
    assert other.get("/api/cases").get_json()["cases"] == []
    assert other.get("/api/cases/202611-0001").status_code == 403
    assert _api(other, "post", "/api/cases/202611-0001", {"note": "x"}).status_code == 403
    assert other.get("/api/cases/board").status_code == 403

    lead = app.test_client()
    login(lead, "lead")
    board = lead.get("/api/cases/board").get_json()
    assert board["by_class"]["major"] == {"active": 1, "overdue": 0, "near": 1}
    assert board["by_branch"]["complaints"]["active"] == 1
    assert [c["case_no"] for c in board["near"]] == ["202611-0001"]
    page = lead.get("/cases").get_data(as_text=True)
    assert 'id="case-board"' in page and 'data-case="202611-0001"' in page
    cast(FixedClock, web_runtime.clock).advance(hours=25)
    login(lead, "lead")  # a day later: signed in again
    board = lead.get("/api/cases/board").get_json()
    assert board["by_class"]["major"]["overdue"] == 1
    assert [c["urgency"] for c in board["overdue"]] == ["overdue"]
    r = _api(lead, "post", "/api/cases/202611-0001", {"owner": "zhang", "state": "resolved"})
    assert r.status_code == 200 and r.get_json()["owner"] == "zhang"

    boss = app.test_client()
    login(boss, "boss")
    login(client, "chen")
    detail = boss.get("/api/cases/202611-0001").get_json()
    assert [e["action"] for e in detail["events"]] == [
        "opened", "escalated", "linked", "callback", "state", "state", "owner",
    ]  # fmt: skip
    assert [e["who"] for e in detail["events"]][-2:] == ["lead", "lead"]
    csv_text = boss.get("/cases/review.csv?week=2026-W48").get_data(as_text=True)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("case_no,class,branch") and lines[1].startswith("202611-0001,major")
    assert client.get("/cases/review.csv").status_code == 403  # agents
    actions = [a[1] for a in _audit(web_runtime)]
    assert actions.count("case_change") == 2 and "case_review_export" in actions


def test_openapi_documents_the_case_api(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"/api/cases", "/api/cases/board", "/api/cases/{case_no}"} <= set(paths)
    assert set(paths["/api/cases"]) == {"get", "post"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"class": "huge", "matter": "m", "number": "13800000001"}, "class"),
        ({"class": "minor", "matter": "x" * 201, "number": "13800000001"}, "matter"),
        ({"class": "minor", "matter": "m", "number": "not a number"}, "number"),
        ({"class": "minor", "matter": "m"}, "number"),
        ({"class": "minor", "matter": "m", "number": "13800000001", "kind": "rant"}, "kind"),
        ({"class": "minor", "matter": "m", "number": "13800000001", "term": "never"}, "term"),
        ({"class": "minor", "matter": "m", "call": "../../etc"}, "call"),
        ({"class": "minor", "matter": "m", "call": "no-such-call"}, "call"),
        ({"class": "minor", "matter": "a\u202eb", "number": "13800000001"}, "matter"),
        ({"class": "minor", "matter": "a\nb", "number": "13800000001"}, "matter"),
        ({"class": "minor", "matter": "m", "number": "13800000001", "summary": "a\u202eb"},
         "summary"),
        ({"class": "minor", "matter": "m", "number": "13800000001", "summary": "a\rb"},
         "summary"),
        ({"class": "minor", "matter": "m", "number": "13800000001",
          "contract_start": "2026-02-30"}, "contract_start"),
        ({"class": ["minor"], "matter": "m", "number": "13800000001"}, "class"),
    ],
)  # fmt: skip
def test_hostile_case_input_is_400_naming_the_field(
    client: FlaskClient, web_users: dict[str, str], login: Any, body: dict[str, Any], param: str
) -> None:
    login(client, "lead")
    r = _api(client, "post", "/api/cases", body)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["param"] == param


def test_linking_a_call_that_is_not_in_the_log_is_400_and_changes_nothing(
    client: FlaskClient, web_users: dict[str, str], login: Any
) -> None:
    login(client, "lead")
    r = _api(
        client, "post", "/api/cases", {"class": "minor", "matter": "m", "number": "13800000001"}
    )
    assert r.status_code == 201, r.get_json()
    no = r.get_json()["case_no"]
    before = client.get(f"/api/cases/{no}").get_json()["events"]
    r = _api(client, "post", f"/api/cases/{no}", {"call": "no-such-call", "note": "called back"})
    assert r.status_code == 400 and r.get_json()["param"] == "call", r.get_json()
    assert client.get(f"/api/cases/{no}").get_json()["events"] == before  # not the note either


def test_an_agent_links_no_call_of_another_agent(
    app: Any, web_users: dict[str, str], login: Any, web_runtime: Runtime, calls: CallBuilder,
    t0: Any, live_call: str,
) -> None:  # fmt: skip
    """chen's call in progress is not li's to see (its detail is a 404 to li): li can
    neither open a case from it, which would show li its caller's full number, nor link it
    to a case of li's own. Nothing is stored."""
    li = app.test_client()
    login(li, "li")
    assert li.get(f"/api/calls/{live_call}").status_code == 404
    r = _api(li, "post", "/api/cases", {"call": live_call, "class": "minor", "matter": "m"})
    assert r.status_code == 403, r.get_json()
    assert "+8613800000009" not in r.get_data(as_text=True)
    own = calls.call(t0 - timedelta(minutes=30), caller="13800000017", agent="li", wait=3, talk=9)
    r = _api(li, "post", "/api/cases", {"call": own, "class": "minor", "matter": "m"})
    assert r.status_code == 201, r.get_json()  # a call li answered: li's to link
    no = r.get_json()["case_no"]
    before = li.get(f"/api/cases/{no}").get_json()
    r = _api(li, "post", f"/api/cases/{no}", {"call": live_call, "note": "same matter"})
    assert r.status_code == 403, r.get_json()
    after = li.get(f"/api/cases/{no}").get_json()
    assert (after["calls"], after["events"]) == (before["calls"], before["events"])
    assert [c["case_no"] for c in li.get("/api/cases").get_json()["cases"]] == [no]
    assert case_parts(web_runtime).repo.by_call(live_call) is None
    lead = app.test_client()
    login(lead, "lead")  # staff see every call: they link any
    r = _api(lead, "post", f"/api/cases/{no}", {"call": live_call})
    assert r.status_code == 200 and live_call in r.get_json()["calls"], r.get_json()


def test_a_state_change_records_the_state_it_moved_the_case_from(
    app: Any, web_users: dict[str, str], login: Any, monkeypatch: Any
) -> None:
    """The lead resolves a case that chen moved to in progress a moment before the lead's
    request read it (as open): the transition is checked against the stored state, and so
    is now the history, which said open -> resolved, hiding chen's step."""
    from dataclasses import replace

    from ivr.app.cases import CaseService
    from ivr.domain.cases import CaseState

    lead, chen = app.test_client(), app.test_client()
    login(lead, "lead")
    login(chen, "chen")
    body = {"class": "minor", "matter": "m", "number": "13800000001", "agent": "chen"}
    no = _api(lead, "post", "/api/cases", body).get_json()["case_no"]
    token = lead.get("/api/me").get_json()["csrf_token"]
    get = CaseService.get
    stale = replace(get(case_parts_of(app).service, no), state=CaseState.OPEN)
    assert _api(chen, "post", f"/api/cases/{no}", {"state": "in_progress"}).status_code == 200
    monkeypatch.setattr(CaseService, "get", lambda self, case_no: stale)  # the lead's read
    r = lead.post(f"/api/cases/{no}", json={"state": "resolved"}, headers={"X-CSRF-Token": token})
    monkeypatch.setattr(CaseService, "get", get)
    assert r.status_code == 200, r.get_json()
    moves = [
        (e["from"], e["to"])
        for e in lead.get(f"/api/cases/{no}").get_json()["events"]
        if e["action"] == "state"
    ]
    assert moves == [("open", "in_progress"), ("in_progress", "resolved")]


def case_parts_of(app: Any) -> Any:
    return case_parts(app.extensions["hotline"].runtime)


def test_a_summary_and_a_note_keep_their_lines(
    client: FlaskClient, web_users: dict[str, str], login: Any
) -> None:
    """As the command line and the use case take them (ivr.domain.text): line feeds
    and tabs stay, a browser's CR LF becomes a line feed; the case page shows them."""
    login(client, "lead")
    body = {"class": "minor", "matter": "m", "number": "13800000001", "summary": "a\r\nb\tc"}
    r = _api(client, "post", "/api/cases", body)
    assert r.status_code == 201, r.get_json()
    no = r.get_json()["case_no"]
    r = _api(client, "post", f"/api/cases/{no}", {"note": "called\r\nno answer"})
    assert r.status_code == 200, r.get_json()
    got = client.get(f"/api/cases/{no}").get_json()
    assert got["summary"] == "a\nb\tc"
    assert got["events"][-1]["detail"] == "called\nno answer"


def test_hostile_paths_and_queries(
    client: FlaskClient, web_users: dict[str, str], login: Any
) -> None:
    login(client, "boss")
    assert client.get("/api/cases/not-a-case").status_code == 400
    assert client.get("/api/cases/202611-9999").status_code == 404
    assert client.get("/api/cases?state=bogus").get_json()["param"] == "state"
    assert client.get("/api/cases?limit=100000").get_json()["param"] == "limit"
    assert client.get("/api/cases?q=%00").status_code == 400
    assert client.get("/cases/review.csv?week=2026-W99").status_code == 400
    assert client.get("/cases/review.csv?week=0000-W01").status_code == 400
    r = _api(client, "post", "/api/cases/202611-0001", {"state": "closed"})
    assert r.status_code == 404


def test_reports_show_complaints_rate_on_time_and_callbacks_per_rule(
    client: FlaskClient, web_users: dict[str, str], login: Any, web_runtime: Runtime,
    calls: CallBuilder, t0: Any,
) -> None:  # fmt: skip
    from ivr.domain.cases import CaseState

    for i in range(4):
        calls.call(t0 - timedelta(hours=1, minutes=i), agent="chen", wait=3, talk=60)
    svc = case_parts(web_runtime).service
    a = svc.open("+8613800000011", "rude staff", "important", by="lead").case
    svc.open("+8613800000012", "gas smell", "major", by="lead")
    svc.update(a.case_no, by="chen", state=CaseState.RESOLVED)
    login(client, "boss")
    cases = client.get("/api/reports").get_json()["cases"]
    assert cases["calls_offered"] == 4
    assert cases["complaint_rate"] == 0.5 and cases["meets_target"] is False
    assert cases["complaints"]["opened"] == 2 and cases["complaints"]["done_on_time"] == 1
    by_class = {r["class"]: r for r in cases["by_class"]}
    assert by_class["important"]["on_time_rate"] == 1.0
    assert by_class["major"]["open_pending"] == 1 and by_class["minor"]["opened"] == 0
    complaint = next(r for r in cases["callbacks"] if r["rule"] == "complaint")
    assert complaint["pending"] == 2 and complaint["due"] == 0
    page = client.get("/reports").get_data(as_text=True)
    assert 'id="complaint-rate"' in page and "Complaints by class" in page
    assert 'id="callbacks-per-rule"' in page and "Callbacks due and done per rule" in page


def _all_audit(rt: Runtime) -> list[tuple[str, str, str, str]]:
    with rt.sessions() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(r.username, r.action, r.target, r.detail) for r in rows]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"note": ""},
        {"note": "   ", "summary": "\u3000"},  # blank: the summary stays, no note
        {"state": "", "owner": "", "call": ""},
        {"unknown": "x"},
    ],
)
def test_a_case_change_with_nothing_to_change_is_a_400_and_writes_nothing(
    client: FlaskClient, web_users: dict[str, str], login: Any, csrf: Any,
    web_runtime: Runtime, body: dict[str, Any],
) -> None:  # fmt: skip
    """It answered 200 and wrote a case_change audit row naming nothing (or a blank
    note): now 400 saying which fields it takes, and no event, no audit row; the case
    page's form likewise (sent with its state unchanged and no note)."""
    login(client, "lead")
    opened = {"class": "minor", "matter": "m", "number": "13800000001"}
    r = _api(client, "post", "/api/cases", opened)
    assert r.status_code == 201, r.get_json()
    no = r.get_json()["case_no"]
    events = client.get(f"/api/cases/{no}").get_json()["events"]
    audit = _all_audit(web_runtime)
    r = _api(client, "post", f"/api/cases/{no}", body)
    assert r.status_code == 400, r.get_json()
    got = r.get_json()
    assert got["param"] == "body"
    for field in ("state", "note", "summary", "owner", "call"):
        assert field in got["error"], got
    assert _all_audit(web_runtime) == audit
    page = client.get(f"/cases/{no}").get_data(as_text=True)
    audit = _all_audit(web_runtime)
    r = client.post(f"/cases/{no}", data={**body, "csrf_token": csrf(page)})
    assert r.status_code == 400
    assert "nothing to change" in r.get_data(as_text=True)
    assert _all_audit(web_runtime) == audit
    assert client.get(f"/api/cases/{no}").get_json()["events"] == events


def test_a_case_number_in_a_path_is_taken_as_written(
    client: FlaskClient, web_users: dict[str, str], login: Any, csrf: Any
) -> None:
    """/api/cases/%20202611-0001 (or with a tab, a line feed after it) was case
    202611-0001: the path was stripped as typed text is, another name for the case, as
    /x/+1 would be for row 1 (refused). Now a 400 naming case_no, on every case route."""
    login(client, "lead")
    r = _api(
        client, "post", "/api/cases", {"class": "minor", "matter": "m", "number": "13800000001"}
    )
    no = r.get_json()["case_no"]
    token = csrf(client.get(f"/cases/{no}").get_data(as_text=True))
    for spelt in (f"%20{no}", f"{no}%20", f"{no}%09", f"{no}%0A", f"%E3%80%80{no}"):
        r = client.get(f"/api/cases/{spelt}")
        assert (r.status_code, r.get_json()["param"]) == (400, "case_no"), spelt
        r = _api(client, "post", f"/api/cases/{spelt}", {"note": "n"})
        assert (r.status_code, r.get_json()["param"]) == (400, "case_no"), spelt
        r = client.get(f"/cases/{spelt}")
        assert r.status_code == 400 and "case_no:" in r.get_data(as_text=True), spelt
        r = client.post(f"/cases/{spelt}", data={"note": "n", "csrf_token": token})
        assert r.status_code == 400, spelt
    assert client.get(f"/api/cases/{no}").status_code == 200
