"""Agent sign-in/out and status, the away rules, approvals, and the live board."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from ivr.adapters.db.models_web import AgentStateChange, AttendanceEvent, User
from web.app import close_app, create_app


def _api(client, method, path, body=None):
    token = client.get("/api/me").get_json()["csrf_token"]
    return getattr(client, method)(path, json=body, headers={"X-CSRF-Token": token})


def _seat(client, agent):
    snap = client.get("/api/seats").get_json()
    return next(s for s in snap["seats"] if s["agent"] == agent), snap


def _sign_in_everyone(rt, agents=("lead", "chen", "li", "zhang", "liu")):
    for a in agents:
        rt.presence_repo.set_agent_state(a, "available", "", rt.clock())


def test_sign_in_status_and_sign_out_reach_presence_history_and_board(
    app, web_users, login, web_runtime, t0
) -> None:
    agent, lead = app.test_client(), app.test_client()
    login(agent, "li")
    login(lead, "lead")
    web_runtime.presence_repo.set_agent_state("li", "signed_out", "", t0 - timedelta(hours=1))
    assert _seat(lead, "li")[0]["state"] == "signed_out"
    assert _api(agent, "post", "/api/agent/attendance", {"kind": "sign_in"}).status_code == 200
    assert web_runtime.presence_repo.agent_states()["li"].state == "available"
    assert _api(agent, "post", "/api/agent/status", {"state": "wrap_up"}).status_code == 200
    seat, _ = _seat(lead, "li")
    assert seat["state"] == "wrap_up"
    r = _api(agent, "post", "/api/agent/attendance", {"kind": "sign_out"})
    assert r.status_code == 200, r.get_json()
    assert _seat(lead, "li")[0]["state"] == "signed_out"
    with web_runtime.sessions() as s:
        kinds = [e.kind for e in s.scalars(select(AttendanceEvent).order_by(AttendanceEvent.id))]
        states = [
            c.state for c in s.scalars(select(AgentStateChange).order_by(AgentStateChange.id))
        ]
    assert kinds == ["sign_in", "sign_out"]
    assert states == ["available", "wrap_up", "signed_out"]


def test_away_breaking_minimum_staffing_is_refused_by_default(
    client, web_users, login, web_runtime
) -> None:
    _sign_in_everyone(web_runtime)  # 4 ordinary present, minimum 4
    login(client, "chen")
    r = _api(client, "post", "/api/agent/status", {"state": "away", "reason": "meal"})
    assert r.status_code == 409
    assert "minimum 4" in r.get_json()["message"]
    assert web_runtime.presence_repo.agent_states()["chen"].state == "available"


def test_away_allowed_then_at_most_n_away(client, web_users, login, web_runtime, t0) -> None:
    web_runtime.clock.at = t0.replace(hour=14)  # zhao on shift too: 5 ordinary present
    _sign_in_everyone(web_runtime, ("lead", "chen", "li", "zhang", "liu", "zhao"))
    login(client, "li")
    r = _api(client, "post", "/api/agent/status", {"state": "away", "reason": "break"})
    assert r.status_code == 200, r.get_json()
    rec = web_runtime.presence_repo.agent_states()["li"]
    assert (rec.state, rec.reason) == ("away", "break")
    r = _api(client, "post", "/api/agent/status", {"state": "away", "reason": "napping"})
    assert r.status_code == 400


@contextmanager
def _training_request_pending(web_runtime, login) -> Iterator[tuple[Any, Any, int]]:
    """An app where going away waits for the lead, and chen's request (training) pending:
    (chen's client, the lead's client, not signed in yet, the request's id)."""
    app = create_app(web_runtime, secret_key="k", away_approval="lead")
    try:
        agent, lead = app.test_client(), app.test_client()
        _sign_in_everyone(web_runtime)
        login(agent, "chen")
        r = _api(agent, "post", "/api/agent/status", {"state": "away", "reason": "training"})
        assert r.status_code == 202
        yield agent, lead, r.get_json()["request_id"]
    finally:
        close_app(app)


def test_away_request_waits_for_the_lead_when_configured(web_runtime, web_users, login) -> None:
    with _training_request_pending(web_runtime, login) as (agent, lead, rid):
        login(lead, "lead")
        pending = lead.get("/api/away-requests").get_json()["requests"]
        assert [p["id"] for p in pending] == [rid]
        assert _seat(lead, "chen")[1]["requests"][0]["agent"] == "chen"
        assert (
            _api(agent, "post", f"/api/away-requests/{rid}", {"decision": "approve"}).status_code
            == 403
        )  # agents cannot approve
        r = _api(lead, "post", f"/api/away-requests/{rid}", {"decision": "approve"})
        assert r.status_code == 200
        seat, snap = _seat(lead, "chen")
        assert (seat["state"], seat["reason"]) == ("away", "training")
        assert any(a["code"] == "below_minimum" for a in snap["alarms"])
        assert (
            _api(lead, "post", f"/api/away-requests/{rid}", {"decision": "refuse"}).status_code
            == 404
        )  # already decided


@pytest.mark.parametrize("how", ["web", "cli"])
def test_an_away_request_ends_when_its_agent_signs_out(web_runtime, web_users, login, how) -> None:
    """A request still pending when its agent signs out (on the agent page, or from the
    command line: hotline agent A signed_out) is over: approving it later put a signed-out agent
    "away" on the board and in the presence the router reads."""
    with _training_request_pending(web_runtime, login) as (agent, lead, rid):
        if how == "web":
            assert (
                _api(agent, "post", "/api/agent/attendance", {"kind": "sign_out"}).status_code
                == 200
            )
        else:
            web_runtime.presence_repo.set_agent_state("chen", "signed_out", "", web_runtime.clock())
        login(lead, "lead")
        r = _api(lead, "post", f"/api/away-requests/{rid}", {"decision": "approve"})
        assert r.status_code == 404, r.get_json()
        assert web_runtime.presence_repo.agent_states()["chen"].state == "signed_out"
        assert _seat(lead, "chen")[0]["state"] == "signed_out"
        assert lead.get("/api/away-requests").get_json()["requests"] == []
        gone = lead.get("/api/away-requests?status=cancelled").get_json()["requests"]
        assert [(x["id"], x["agent_id"]) for x in gone] == [(rid, "chen")]


@pytest.mark.postgres
@pytest.mark.parametrize("web_backend", ["postgresql"])  # SQLite's BEGIN IMMEDIATE serialises
def test_two_leads_deciding_one_request_at_once_decide_it_once(web_runtime, t0) -> None:
    """Two supervisors answer the same request at the same moment (one approves, one
    refuses): the second, whose read saw it pending before the first committed, decided
    it too, so the first put the agent away while the record said refused. Now the one
    that comes second finds it decided: no second decision (a 404 on the board)."""
    from web import store

    with web_runtime.sessions.begin() as s:
        rid = store.add_away_request(s, "chen", "meal", "would_understaff:3:4", t0)
    first = web_runtime.sessions()
    first.begin()
    assert store.decide_away_request(first, rid, True, "lead", t0) is not None
    first.flush()  # the row is the first's until it commits
    got: list[object] = []

    def second() -> None:
        with web_runtime.sessions.begin() as s:
            got.append(store.decide_away_request(s, rid, False, "root", t0))

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)  # the second has read the request as pending and waits for the row
    first.commit()
    first.close()
    t.join(10)
    assert got == [None]
    with web_runtime.sessions() as s:
        assert [(r.status, r.decided_by) for r in store.away_requests(s, None)] == [
            ("approved", "lead")
        ]


def test_nobody_signs_in_for_someone_else(client, web_users, login) -> None:
    login(client, "lead")  # a supervisor: no agent page, no agent API
    assert _api(client, "post", "/api/agent/attendance", {"kind": "sign_in"}).status_code == 403
    login(client, "boss")
    assert client.get("/agent").status_code == 403


def test_board_shows_calls_waiting_and_talking(
    client, web_users, login, calls, web_runtime, t0
) -> None:
    web_runtime.presence_repo.set_seat_state("seat2", "INUSE", t0)
    talking = calls.call(
        t0 - timedelta(seconds=90), wait=10, talk=0, agent="chen", seat="seat2", ended=False
    )
    waiting = calls.call(t0 - timedelta(seconds=45), caller="13900000002", ended=False)
    in_menu = calls.call(t0 - timedelta(seconds=5), branch=None, ended=False)
    login(client, "lead")
    seat, snap = _seat(client, "chen")
    assert seat["state"] == "on_call" and seat["caller"] == "+86 138****0001"
    assert [w["uid"] for w in snap["waiting"]] == [waiting]
    assert snap["waiting"][0]["caller"] == "+86 139****0002"
    assert snap["in_menu"] == 1
    assert talking and in_menu
    ringing_seat = _seat(client, "li")[0]
    assert ringing_seat["state"] == "available"
    web_runtime.presence_repo.set_seat_state("seat3", "RINGING", t0 + timedelta(seconds=1))
    web_runtime.clock.advance(seconds=1)
    assert _seat(client, "li")[0]["state"] == "ringing"


def test_away_too_long_raises_an_alarm(client, web_users, login, web_runtime, t0) -> None:
    web_runtime.presence_repo.set_agent_state("zhao", "away", "meal", t0 - timedelta(minutes=31))
    login(client, "lead")
    seat, snap = _seat(client, "zhao")
    assert seat["away_too_long"]
    assert {"code": "away_too_long", "agent": "zhao", "minutes": 30} in snap["alarms"]


def test_sse_stream_sends_the_board(client, web_users, login) -> None:
    login(client, "lead")
    r = client.get("/board/stream?once=1")
    assert r.mimetype == "text/event-stream"
    text = r.get_data(as_text=True)
    event = next(block for block in text.split("\n\n") if block.startswith("event: board"))
    data = json.loads(event.split("data: ", 1)[1])
    assert {s["seat"] for s in data["seats"]} == {f"seat{i}" for i in range(1, 7)}


@pytest.mark.parametrize("role", ["chen"])
def test_agents_cannot_watch_the_board(client, web_users, login, role) -> None:
    login(client, role)
    assert client.get("/board/stream?once=1").status_code == 403
    assert client.get("/api/seats").status_code == 403


def test_calls_shed_by_admission_control_raise_an_overload_alarm(
    client, web_users, login, web_runtime, t0
) -> None:
    from ivr.domain.calllog import CallEnded, CallStarted, Outcome

    def shed(uid: str, at) -> None:
        web_runtime.calls.record_many(
            [
                CallStarted(uid, at, "13800000009", source="ami"),
                CallEnded(uid, at + timedelta(seconds=4), "16", Outcome.SHED),
            ]
        )

    login(client, "lead")
    assert not any(a["code"] == "shedding" for a in _seat(client, "li")[1]["alarms"])
    shed("shed-old", t0 - timedelta(minutes=11))  # outside the 10-minute window
    shed("shed-1", t0 - timedelta(minutes=3))
    shed("shed-2", t0 - timedelta(seconds=20))
    alarms = _seat(client, "li")[1]["alarms"]
    assert {"code": "shedding", "count": 2, "minutes": 10} in alarms
    listed = client.get("/api/calls?outcome=shed").get_json()
    assert sorted(c["uid"] for c in listed["calls"]) == ["shed-1", "shed-2", "shed-old"]
    page = client.get("/calls?outcome=shed")
    assert page.status_code == 200 and "turned away: lines busy" in page.get_data(as_text=True)


def test_two_agents_going_away_at_once_cannot_both_break_the_staffing_rule(
    app, web_users, login, web_runtime, t0, monkeypatch
) -> None:
    """Five ordinary agents present, a minimum of four: one of them may go away, not two.
    Two agents asking at the same moment both read five present and both went away (the
    check and the change were apart); now the second is checked against the first's
    change and refused."""
    from web import presence

    web_runtime.clock.at = t0.replace(hour=14)  # zhao on shift too: 5 ordinary present
    _sign_in_everyone(web_runtime, ("lead", "chen", "li", "zhang", "liu", "zhao"))
    both_checked = threading.Barrier(2, timeout=1.0)
    check = presence.away_refusal

    def slow_check(*args, **kwargs):
        why = check(*args, **kwargs)
        try:
            both_checked.wait()  # the other request checks before this one changes anything
        except threading.BrokenBarrierError:
            pass  # the other could not check meanwhile: the checks are one at a time
        return why

    monkeypatch.setattr(presence, "away_refusal", slow_check)
    clients = {a: app.test_client() for a in ("chen", "li")}
    for name, client in clients.items():
        login(client, name)
    tokens = {a: c.get("/api/me").get_json()["csrf_token"] for a, c in clients.items()}
    codes: dict[str, int] = {}

    def go_away(name: str) -> None:
        r = clients[name].post(
            "/api/agent/status",
            json={"state": "away", "reason": "meal"},
            headers={"X-CSRF-Token": tokens[name]},
        )
        codes[name] = r.status_code

    threads = [threading.Thread(target=go_away, args=(a,)) for a in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(codes.values()) == [200, 409], codes
    states = web_runtime.presence_repo.agent_states()
    assert sorted(states[a].state for a in clients) == ["available", "away"]


def test_two_web_processes_cannot_together_break_the_staffing_rule(
    web_runtime, web_users, t0, tmp_path
) -> None:
    """The same race as above between two web processes on one database (two cheroot
    workers, two hosts behind a balancer): the lock was a threading.Lock, one per
    process, so each process checked against the states before the other's change and
    both agents went away. The check and the change now hold a lock in the database."""
    import multiprocessing

    import staffing_worker

    web_runtime.clock.at = t0.replace(hour=14)  # zhao on shift too: 5 ordinary present
    _sign_in_everyone(web_runtime, ("lead", "chen", "li", "zhang", "liu", "zhao"))
    url = web_runtime.engine.url.render_as_string(hide_password=False)
    with web_runtime.sessions() as s:
        ids = {name: uid for name, uid in s.execute(select(User.username, User.id))}
    mp = multiprocessing.get_context("spawn")
    ready, checked, out = mp.Barrier(2), mp.Barrier(2), mp.Queue()
    procs = [
        mp.Process(
            target=staffing_worker.go_away,
            args=(
                url,
                str(tmp_path),
                a,
                ids[a],
                web_runtime.clock.at.isoformat(),
                ready,
                checked,
                out,
            ),
        )  # fmt: skip
        for a in ("chen", "li")
    ]
    for p in procs:
        p.start()
    try:
        got = dict(out.get(timeout=120) for _ in procs)
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    assert sorted(got.values(), key=str) == [False, True], got
    states = web_runtime.presence_repo.agent_states()
    assert sorted(states[a].state for a in ("chen", "li")) == ["available", "away"]
