"""The OpenAPI 3.1 document of /api, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

_ERR = {"$ref": "#/components/responses/Error"}


_BUSY = {
    "description": "heavy request refused: every heavy slot taken, or a statement ran past "
    "the heavy pool's timeout (web/heavy.py); retry after the Retry-After seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _heavy(doc: dict[str, Any]) -> dict[str, Any]:
    """A GET that runs in the heavy pool: it may answer 503."""
    doc["get"]["responses"]["503"] = _BUSY
    return doc


def _get(
    summary: str,
    params: tuple[str, ...] | list[str] = (),
    roles: str = "any role",
    schema: str = "Object",
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "description": f"Roles: {roles}.",
            "parameters": [_param(p) for p in params],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                    },
                },
                "400": _ERR,
                "401": _ERR,
                "403": _ERR,
            },
        }
    }


def _post(summary: str, body: dict[str, Any], roles: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": f"Roles: {roles}. Needs the X-CSRF-Token header (from /api/me).",
            "parameters": [_param("X-CSRF-Token", where="header", required=True)],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": {"description": "done"},
                "201": {"description": "created"},
                "202": {"description": "waiting for approval"},
                "400": _ERR,
                "401": _ERR,
                "403": _ERR,
                "404": _ERR,
                "409": {"description": "refused by a rule"},
            },
        }
    }


def _param(name: str, where: str = "query", required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": {"type": "string"},
    }


def _with_path(item: dict[str, Any], name: str) -> dict[str, Any]:
    for op in item.values():
        op["parameters"] = [_param(name, "path"), *op.get("parameters", [])]
    return item


_CASE_STATES = ["open", "in_progress", "waiting_customer", "resolved", "closed", "reopened"]
_CASE_OPEN = {
    "type": "object",
    "required": ["matter", "class"],
    "properties": {
        "number": {"type": "string", "description": "E.164 or national; default: the call's"},
        "matter": {"type": "string", "maxLength": 200},
        "class": {"type": "string", "description": "a class of cases.yaml (major, ...)"},
        "kind": {"enum": ["complaint", "request", "follow_up"]},
        "call": {"type": "string", "description": "the call's unique id (linked)"},
        "agent": {"type": "string", "description": "the owner (staff only; agents own theirs)"},
        "term": {"type": "string", "description": "a deadline term of cases.yaml"},
        "summary": {"type": "string", "maxLength": 4000},
        "visitor": {"enum": ["0", "1", "true", "false"]},
        "contract_start": {"type": "string", "format": "date"},
    },
}
_CASE_CHANGE = {
    "type": "object",
    "properties": {
        "state": {"enum": _CASE_STATES},
        "note": {"type": "string", "maxLength": 4000},
        "summary": {"type": "string", "maxLength": 4000},
        "owner": {"type": "string"},
        "call": {"type": "string"},
    },
}
_CASE_FIELDS = (
    ("case_no", "string"),
    ("kind", "string"),
    ("class", "string"),
    ("state", "string"),
    ("number", "string"),
    ("matter", "string"),
    ("owner", "string"),
    ("branch", "string"),
    ("term", "string"),
    ("opened_at", "string"),
    ("opened_by", "string"),
    ("deadline", "string"),
    ("done_at", ["string", "null"]),
    ("escalation", "string"),
    ("urgency", "string"),
    ("calls", "array"),
)

_CALL_FILTERS = ["from", "to", "number", "agent", "branch", "outcome", "page", "per_page"]


def document() -> dict[str, Any]:
    staff = "supervisor, manager, admin"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hotline web API",
            "version": "1",
            "description": "Seats, calls, callbacks, reports and staffing of the hotline. "
            "Every endpoint but this document needs a signed-in session (cookie from "
            "POST /login); anonymous requests get 401. Agents see only their own calls; "
            "caller numbers are masked except where the role needs them. Human-readable "
            "texts (error, message) are in the request's language (the user's choice, else "
            "Accept-Language: zh-CN or en, else the hotline's web.locale); codes (code, "
            "outcome, alarms[].code, requests[].why.code) are the same in every language.",
        },
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "hotline_session"}
            },
            "schemas": {
                "Object": {"type": "object"},
                "CallList": {
                    "type": "object",
                    "properties": {
                        "page": {"type": "integer"},
                        "per_page": {"type": "integer"},
                        "has_next": {"type": "boolean"},
                        "calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}},
                    },
                },
                "Call": {
                    "type": "object",
                    "properties": {
                        k: {"type": t}
                        for k, t in (
                            ("uid", "string"),
                            ("started_at", "string"),
                            ("caller", "string"),
                            ("branch", ["string", "null"]),
                            ("route_kind", ["string", "null"]),
                            ("outcome", "string"),
                            ("agent", ["string", "null"]),
                            ("seat", ["string", "null"]),
                            ("wait_seconds", ["number", "null"]),
                            ("talk_seconds", ["number", "null"]),
                            ("vip", "boolean"),
                        )
                    },
                },
                "CallbackList": {
                    "type": "object",
                    "properties": {
                        "at": {"type": "string"},
                        "tz": {"type": "string"},
                        "limit": {"type": "integer"},
                        "count": {"type": "integer"},
                        "by_state": {
                            "type": "object",
                            "additionalProperties": {"type": "integer"},
                        },
                        "callbacks": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Callback"},
                        },
                    },
                },
                "Callback": {
                    "type": "object",
                    "properties": {
                        k: {"type": t}
                        for k, t in (
                            ("id", "integer"),
                            ("number", "string"),
                            ("matter", "string"),
                            ("state", "string"),
                            ("due_at", ["string", "null"]),
                            ("deadline", ["string", "null"]),
                            ("arrived_at", "string"),
                            ("overdue", "boolean"),
                            ("attempts", "integer"),
                            ("language", "string"),
                            ("branch", "string"),
                            ("last_outcome", "string"),
                            ("source", "string"),
                            ("customer_tz", "string"),
                        )
                    },
                },
                "CallbackRates": {
                    "type": "object",
                    "properties": {
                        "at": {"type": "string"},
                        "since": {"type": "string"},
                        "days": {"type": "integer"},
                        "rules": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    k: {"type": t}
                                    for k, t in (
                                        ("rule", "string"),
                                        ("kind", "string"),
                                        ("days", "integer"),
                                        ("rule_text", "string"),
                                        ("target_rate", "number"),
                                        ("counted", "integer"),
                                        ("on_time", "integer"),
                                        ("late_or_missed", "integer"),
                                        ("pending", "integer"),
                                        ("rate", ["number", "null"]),
                                        ("meets_target", ["boolean", "null"]),
                                        ("text", "string"),
                                    )
                                },
                            },
                        },
                    },
                },
                "Case": {"type": "object", "properties": {k: {"type": t} for k, t in _CASE_FIELDS}},
                "CaseList": {
                    "type": "object",
                    "properties": {
                        "at": {"type": "string"},
                        "count": {"type": "integer"},
                        "cases": {"type": "array", "items": {"$ref": "#/components/schemas/Case"}},
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                        "param": {
                            "type": ["string", "null"],
                            "description": "the parameter or field at fault (400)",
                        },
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
        },
        "security": [{"session": []}],
        "paths": {
            "/api/me": _get("The signed-in user and the CSRF token for unsafe requests"),
            "/api/seats": _get(
                "Live board: seats, staffing, alarms, waiting callers, today", roles=staff
            ),
            "/api/calls": _heavy(
                _get(
                    "Filtered, paginated call log (newest first)", _CALL_FILTERS, schema="CallList"
                )
            ),
            "/api/calls/{uid}": {
                "get": {
                    **_get("One call with IVR path and routing trace")["get"],
                    "parameters": [_param("uid", "path")],
                }
            },
            "/api/reports": _heavy(
                _get(
                    "Report figures per period, agent, branch, team; attendance; satisfaction",
                    ["period", "from", "to"],
                    roles=staff,
                )
            ),
            "/api/callbacks": _get(
                "Open callback requests, soonest due first (full numbers; the read is "
                "audited), and the ledger's counts by state",
                ["limit"],
                roles=staff,
                schema="CallbackList",
            ),
            "/api/callbacks/rate": _get(
                "Callback rate per service rule (on time = connected by the deadline) "
                "over the requests of the last `days` days (default 30)",
                ["days"],
                roles=staff,
                schema="CallbackRates",
            ),
            "/api/planner": _heavy(
                _get(
                    "Seats needed per half hour by Erlang C next to the roster",
                    ["date"],
                    roles=staff,
                )
            ),
            "/api/agent/status": {
                **_get("My work status", roles="agent"),
                **_post(
                    "Set my work status (available, wrap_up, away with reason)",
                    {
                        "type": "object",
                        "properties": {
                            "state": {"enum": ["available", "wrap_up", "away"]},
                            "reason": {"enum": ["break", "meal", "training", "meeting", "other"]},
                        },
                    },
                    "agent",
                ),
            },
            "/api/agent/attendance": _post(
                "Sign in or out (the attendance record)",
                {"type": "object", "properties": {"kind": {"enum": ["sign_in", "sign_out"]}}},
                "agent",
            ),
            "/api/cases": {
                **_get(
                    "Cases the user may see (agents: their own; supervisors: the team; "
                    "managers, admins: all), soonest deadline first for active ones; no free "
                    "text (read one case for it)",
                    ["state", "class", "branch", "kind", "q", "view", "limit"],
                    schema="CaseList",
                ),
                **_post(
                    "Open a case (an agent: for the call in progress, owned by them). Answers "
                    "201 with case_no, deadline and the callbacks put in the ledger",
                    _CASE_OPEN,
                    "any role",
                ),
            },
            "/api/cases/board": _get(
                "The case board: active cases by class and branch with overdue and near "
                "deadline counts, and the overdue and near lists",
                roles=staff,
            ),
            "/api/cases/{case_no}": _with_path(
                {
                    **_get(
                        "One case with its summary, events and callbacks (the read is audited)",
                        schema="Case",
                    ),
                    **_post(
                        "Change a case: state, note, summary, owner (staff), call (link);"
                        " none of them (or only blank ones) is a 400 naming body",
                        _CASE_CHANGE,
                        "the case's owner, supervisors (team), managers, admins",
                    ),
                },
                "case_no",
            ),
            "/api/away-requests": _get(
                "Away requests (status: pending (default), approved, refused, cancelled or all)",
                ["status"],
                roles="supervisor, admin",
            ),
            "/api/away-requests/{request_id}": _with_path(
                _post(
                    "Approve or refuse an away request",
                    {"type": "object", "properties": {"decision": {"enum": ["approve", "refuse"]}}},
                    "supervisor, admin",
                ),
                "request_id",
            ),
        },
    }
