"""`hotline cases open | list | show | update | close | sweep` on SQLite and PostgreSQL,
and hostile arguments refused with exit 2 naming the option."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO
from dbs import temporary_database
from sqlalchemy import select

from cli.main import main
from ivr.adapters.db.engine import make_engine, make_session_factory
from ivr.adapters.db.models_web import AuditEntry

NOW = "2026-11-23T10:00:00+08:00"


@pytest.fixture
def cli_db(web_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with temporary_database(web_backend, tmp_path) as url:
        monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
        monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("HOTLINE_CONFIG", str(REPO / "config"))
        monkeypatch.setenv("HOTLINE_NOW", NOW)
        yield url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_open_prints_number_deadline_and_callbacks_then_the_case_moves_to_closed(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "cases", "open", "--number", "13800000009", "--matter", "noise at night",
        "--class", "important", "--agent", "chen", "--json",
    )  # fmt: skip
    assert code == 0
    opened = json.loads(out)
    assert opened["case_no"] == "202611-0001"
    assert opened["deadline"].startswith("2026-11-26T10:00:0")  # 72 h (the clock runs)
    assert opened["deadline"].endswith("+08:00")
    [cb] = opened["callbacks"]
    assert cb["matter"] == "complaint:202611-0001"
    assert cb["deadline"].startswith("2026-11-26T02:00:0")
    assert opened["case"]["owner"] == "chen" and opened["case"]["number"] == "+8613800000009"

    code, out, _ = run(capsys, "cases", "update", "202611-0001", "--state", "in_progress", "--json")
    assert code == 0 and json.loads(out)["state"] == "in_progress"
    code, out, err = run(capsys, "cases", "update", "202611-0001", "--state", "reopened")
    assert code == 3 and "in_progress to reopened" in err
    code, out, _ = run(capsys, "cases", "close", "202611-0001", "--note", "fixed", "--json")
    assert code == 0 and json.loads(out)["state"] == "closed"

    code, out, _ = run(capsys, "cases", "list", "--json")
    [listed] = json.loads(out)
    assert listed["case_no"] == "202611-0001" and "summary" not in listed
    code, out, _ = run(capsys, "cases", "show", "202611-0001")
    shown = json.loads(out)
    assert [e["action"] for e in shown["events"]] == [
        "opened", "callback", "state", "state", "callback_cancelled",
    ]  # fmt: skip
    assert [(c["matter"], c["state"]) for c in shown["callbacks"]] == [
        ("complaint:202611-0001", "cancelled")  # closing the case cancelled it
    ]

    engine = make_engine(cli_db)
    try:
        with make_session_factory(engine)() as s:
            audit = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
            actions = [(a.action, a.target, a.role) for a in audit]
    finally:
        engine.dispose()
    assert actions == [
        ("case_open", "202611-0001", "cli"),
        ("case_change", "202611-0001", "cli"),
        ("case_change", "202611-0001", "cli"),
        ("case_read", "202611-0001", "cli"),
    ]


def test_a_missing_case_is_exit_1(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "cases", "show", "202611-0099")
    assert code == 1 and "no case" in err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["open", "--number", "13800000009", "--matter", "m", "--class", "huge"], "--class"),
        (["open", "--number", "not-a-number", "--matter", "m", "--class", "minor"], "--number"),
        (["open", "--number", "13800000009", "--matter", "x" * 201, "--class", "minor"],
         "--matter"),
        (["open", "--number", "13800000009", "--matter", "m", "--class", "minor", "--agent",
          "a;b"], "--agent"),
        (["open", "--number", "13800000009", "--matter", "m", "--class", "minor", "--term",
          "never"], "--term"),
        (["open", "--matter", "m", "--class", "minor", "--call", "no-such-call"], "--call"),
        (["open", "--number", "13800000009", "--matter", "m", "--class", "minor",
          "--contract-start", "0000-13-01"], "--contract-start"),
        (["open", "--number", "13800000009", "--matter", "m", "--class", "minor",
          "--contract-start", "2099-01-01"], "--contract-start"),
        (["show", "2026-0001"], "case_no"),
        (["show", "202611-0001' OR 1=1"], "case_no"),
        (["update", "202611-0001", "--state", "gone"], "--state"),
        (["list", "--limit", "0"], "--limit"),
        (["list", "--class", "unknown"], "--class"),
    ],
)  # fmt: skip
def test_hostile_arguments_exit_2_naming_the_item(
    cli_db: str, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    code, out, err = run(capsys, "cases", *argv)
    assert code == 2, (out, err)
    assert named in err
    assert "Traceback" not in err


def test_an_update_with_nothing_to_change_exits_2_and_writes_nothing(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "cases", "open", "--number", "13800000009", "--matter", "noise",
        "--class", "minor", "--json",
    )  # fmt: skip
    assert code == 0
    before = run(capsys, "cases", "show", "202611-0001")[1]
    for argv in ([], ["--note", "   "], ["--summary", " ", "--note", ""]):
        code, out, err = run(capsys, "cases", "update", "202611-0001", *argv)
        assert code == 2 and "nothing to change" in err and "--state" in err, (argv, err)
    after = run(capsys, "cases", "show", "202611-0001")[1]
    assert json.loads(after)["events"] == json.loads(before)["events"]


def test_an_agent_marks_the_case_callback_done_and_the_case_is_resolved(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "cases", "open", "--number", "13800000009", "--matter", "cold shower",
        "--class", "minor", "--agent", "chen", "--json",
    )  # fmt: skip
    assert code == 0
    [cb] = json.loads(out)["callbacks"]
    code, _, err = run(capsys, "callbacks", "done", str(cb["id"]), "--by", "")
    assert code == 2 and "--by" in err
    code, _, err = run(
        capsys, "callbacks", "done", str(cb["id"]), "--by", "chen", "--outcome", "a\x00"
    )
    assert code == 2 and "--outcome" in err
    code, out, _ = run(
        capsys, "callbacks", "done", str(cb["id"]), "--by", "chen", "--outcome", "hot now", "--json"
    )
    assert code == 0 and json.loads(out)["state"] == "completed"
    code, _, err = run(capsys, "callbacks", "done", str(cb["id"]), "--by", "chen")
    assert code == 1 and "cannot be marked done" in err
    code, out, _ = run(capsys, "cases", "show", "202611-0001")
    shown = json.loads(out)
    assert shown["state"] == "resolved"
    done = [e for e in shown["events"] if e["action"] == "callback_done"]
    assert [(e["who"], e["detail"]) for e in done] == [
        ("chen", f"#{cb['id']} complaint:202611-0001: completed (hot now)")
    ]
