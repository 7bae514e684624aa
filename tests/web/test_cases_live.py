"""The case escalation ladder, live, on both databases: the sweep records a step and
the board's event stream and the agent page's stream carry it (agents see only their
own cases); the pages hold the elements the scripts fill in."""

from __future__ import annotations

import json
from typing import Any, cast

from conftest import FixedClock
from flask import Flask
from flask.testing import FlaskClient

from ivr.bootstrap import Runtime, case_parts


def _event(client: FlaskClient, path: str, name: str) -> dict[str, Any]:
    r = client.get(path)
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    text = r.get_data(as_text=True)
    block = next(b for b in text.split("\n\n") if b.startswith(f"event: {name}"))
    return cast(dict[str, Any], json.loads(block.split("data: ", 1)[1]))


def test_the_sweep_reaches_the_board_stream_and_the_owners_agent_stream(
    app: Flask, web_users: dict[str, str], login: Any, web_runtime: Runtime
) -> None:
    svc = case_parts(web_runtime).service
    mine = svc.open("+8613800000031", "leak", "minor", by="chen", owner="chen").case.case_no
    theirs = svc.open("+8613800000032", "noise", "minor", by="li", owner="li").case.case_no
    client = app.test_client()
    login(client, "lead")
    assert _event(client, "/board/stream?once=1", "board")["escalations"] == []

    cast(FixedClock, web_runtime.clock).advance(hours=40)  # past half of 72 h
    assert sorted(svc.sweep()) == sorted([(mine, "lead"), (theirs, "lead")])
    client = app.test_client()  # a new sign-in: the clock moved past the session's life
    login(client, "lead")
    board = _event(client, "/board/stream?once=1", "board")["escalations"]
    assert {(e["case_no"], e["step"], e["owner"]) for e in board} == {
        (mine, "lead", "chen"),
        (theirs, "lead", "li"),
    }
    assert client.get("/agent/stream?once=1").status_code == 403  # the lead has no desk

    client = app.test_client()
    login(client, "chen")
    snap = _event(client, "/agent/stream?once=1", "cases")
    assert [(c["case_no"], c["escalation"]) for c in snap["cases"]] == [(mine, "lead")]
    assert [(e["case_no"], e["step"]) for e in snap["escalations"]] == [(mine, "lead")]
    assert client.get("/board/stream?once=1").status_code == 403

    cast(FixedClock, web_runtime.clock).advance(hours=40)  # overdue: the manager
    svc.sweep()
    client = app.test_client()
    login(client, "chen")
    snap = _event(client, "/agent/stream?once=1", "cases")
    assert snap["cases"][0]["escalation"] == "manager" and snap["cases"][0]["urgency"] == "overdue"
    assert [e["step"] for e in snap["escalations"]] == ["manager"]  # the lead step: 40 h ago

    svc.close(mine, by="chen")  # a closed case leaves the live lists
    assert _event(client, "/agent/stream?once=1", "cases")["escalations"] == []


def test_the_pages_carry_the_live_parts(
    app: Flask, web_users: dict[str, str], login: Any, web_runtime: Runtime
) -> None:
    no = case_parts(web_runtime).service.open(
        "+8613800000033", "leak", "minor", by="chen", owner="chen"
    )
    client = app.test_client()
    login(client, "chen")
    page = client.get("/agent", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert 'data-stream="/agent/stream"' in page and "agent.js" in page
    assert f'data-case="{no.case.case_no}"' in page and 'data-escalation="none"' in page
    labels = json.loads(page.split('id="case-labels">', 1)[1].split("</script>", 1)[0])
    assert labels["steps"]["lead"] == "班长" and "{case_no}" in labels["escalated"]
    client = app.test_client()
    login(client, "lead")
    board = client.get("/board").get_data(as_text=True)
    assert 'id="escalations"' in board


def test_the_owner_marks_a_case_callback_done_on_the_case_page(
    app: Flask, web_users: dict[str, str], login: Any, csrf: Any, web_runtime: Runtime
) -> None:
    svc = case_parts(web_runtime).service
    opened = svc.open("+8613800000034", "no hot water", "minor", by="chen", owner="chen")
    no, [cb] = opened.case.case_no, opened.callbacks
    other = svc.open("+8613800000035", "other", "minor", by="li", owner="li").callbacks[0]
    client = app.test_client()
    login(client, "chen")
    page = client.get(f"/cases/{no}").get_data(as_text=True)
    assert f'id="callback-done-{cb.id}"' in page
    token = csrf(page)
    done = f"/cases/{no}/callbacks/{cb.id}/done"
    assert (
        client.post(
            f"/cases/{no}/callbacks/{other.id}/done", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/cases/{no}/callbacks/99999999999/done", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert client.post(done, data={"csrf_token": token, "outcome": "x" * 201}).status_code == 400
    r = client.post(done, data={"csrf_token": token, "outcome": "fixed, customer happy"})
    assert r.status_code == 302
    case = svc.get(no)
    assert case.state.value == "resolved"
    [ev] = [e for e in svc.store.events(no) if e.action == "callback_done"]
    assert (ev.who, ev.detail) == (
        "chen",
        f"#{cb.id} complaint:{no}: completed (fixed, customer happy)",
    )
    again = client.post(done, data={"csrf_token": token}, follow_redirects=True)
    assert "can no longer be marked done" in again.get_data(as_text=True)
    assert f'id="callback-done-{cb.id}"' not in client.get(f"/cases/{no}").get_data(as_text=True)

    li = app.test_client()
    login(li, "li")
    page = li.get(f"/cases/{other.note}").get_data(as_text=True)
    r = li.post(done, data={"csrf_token": csrf(page)})
    assert r.status_code == 403  # not li's case
