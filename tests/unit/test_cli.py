"""The `hotline` command's habits: --version, -v anywhere, JSON logs naming the call,
and arguments refused with exit 2 naming the option."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from config_files import copy_sample, edit

from cli.main import build_parser, main
from ivr.adapters.log import CALL_ID, CallIdFilter, JsonFormatter

REPO = Path(__file__).resolve().parents[2]


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hotline {version('hotline')}"


def test_the_installed_command_prints_its_version() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).with_name("hotline")), "--version"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.startswith("hotline ")


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "check-config"],
        ["check-config", "-v"],
        ["check-config", "--verbose"],
        ["--log-format", "json", "check-config"],
        ["check-config", "--log-format", "json", "-v"],
        ["callbacks", "list", "-v"],
    ],
)
def test_common_options_before_or_after_the_subcommand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.verbose == ("-v" in argv or "--verbose" in argv)
    assert args.log_format == ("json" if "json" in argv else "text")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["calls", "--limit", "-5"], "--limit"),
        (["calls", "--limit", "100000000000000000000"], "--limit"),
        (["calls", "--limit", "ten"], "--limit"),
        (["simulate", "--at", "0001-01-01"], "--at"),
        (["simulate", "--at", "9999-12-31T23:59:59"], "--at"),
        (["callbacks", "show", "9223372036854775808"], "id"),
        (["callbacks", "list", "--limit", "0"], "--limit"),
        (["callbacks", "report", "--days", "-1"], "--days"),
        (["web", "--port", "70000"], "--port"),
        (["web", "--sl-target", "100"], "--sl-target"),  # was refused as sl_level 1.0
        (["web", "--sl-target", "0.5"], "--sl-target"),
        (["web", "--sl-seconds", "0"], "--sl-seconds"),
        (["web", "--heavy-slots", "0"], "--heavy-slots"),
        (["web", "--heavy-slots", "65"], "--heavy-slots"),
        (["web", "--heavy-wait", "-1"], "--heavy-wait"),
        (["web", "--heavy-timeout", "nan"], "--heavy-timeout"),
        (["web", "--heavy-timeout", "0"], "--heavy-timeout"),
        (["rollups", "--days", "0"], "--days"),
        (["rollups", "--days", "99999"], "--days"),
        (["rollups", "--sl-seconds", "inf"], "--sl-seconds"),
        (["bench", "ivr", "--rate", "nan"], "--rate"),
        (["bench", "ivr", "--find-max", "--tries", "0"], "--tries"),
        (["bench", "ivr", "--find-max", "--tries", "1.5"], "--tries"),
        (["bench", "ivr", "--find-max", "--tries", "9"], "--tries"),
        (["bench", "calllog", "--calls", "-1"], "--calls"),
        (["bench", "writer", "--calls", "0"], "--calls"),
        (["bench", "writer", "--calls", "3k"], "--calls"),
        (["bench", "media", "--calls", "0"], "--calls"),
        (["bench", "media", "--calls", "5000"], "--calls"),
        (["bench", "media", "--calls", "1e3"], "--calls"),
        (["bench", "media", "--talk-seconds", "nan"], "--talk-seconds"),
        (["bench", "media", "--talk-seconds", "0"], "--talk-seconds"),
        (["bench", "media", "--menu-seconds", "23"], "--menu-seconds"),
        (["bench", "media", "--menu-seconds", "0.1"], "--menu-seconds"),
        (["bench", "media", "--menu-seconds", "inf"], "--menu-seconds"),
        (["bench", "writer", "--pg-url", "x"], "--pg-url"),
        (["bench", "writer", "--pg-url", "sqlite:///x.db"], "--pg-url"),
        (
            ["bench", "cases", "--pg-url", "postgresql://u@127.0.0.1:1/x", "--cases", "5"],
            "--pg-url",
        ),
        (
            ["bench", "calllog", "--pg-url", "postgresql://u@127.0.0.1:1/x", "--calls", "5"],
            "--pg-url",
        ),
        (["bench", "dialer", "--database-url", "mysql://u@h/db"], "--database-url"),
        (["bench", "dialer", "--database-url", "sqlite:////no/such/dir/x.db"], "--database-url"),
        (["bench", "ivr", "--find-max", "--start", "100", "--top", "75"], "--top"),
        (["bench", "ivr", "--config", "/no/such/hotline-config"], "/no/such/hotline-config"),
        (["bench", "media", "--config", "/no/such/hotline-config"], "/no/such/hotline-config"),
        (["call", "--from", "1\r\n2"], "--from"),
        (["call", "--from", ""], "--from"),
        (["call", "--from", "1" * 21], "--from"),
        (["call", "--keys", "1x"], "--keys"),
        (["serve", "--asterisk-dir", ""], "--asterisk-dir"),
        # checked before the sandbox is touched (up and demo would start it)
        (["up", "--config", "/no/such/hotline-config"], "/no/such/hotline-config"),
        (["demo", "--config", "/no/such/hotline-config"], "/no/such/hotline-config"),
        (["asterisk", "--config", "/no/such/hotline-config", "status"], "/no/such/hotline-config"),
        (["call", "--hold-ms", "-1"], "--hold-ms"),
        (["call", "--survey", "4x"], "--survey"),
        (["call", "--survey", "4\r\n"], "--survey"),
        (["call", "--survey", "123456789"], "--survey"),
        (["call", "--talk-ms", "0"], "--talk-ms"),
        (["call", "--talk-ms", "1e9"], "--talk-ms"),
        (["nosuch"], "invalid choice"),
        (["check-config", "--config", ""], "--config"),
        (["calls", "--config", " "], "--config"),
        (
            ["callbacks", "add", "--number", "13800000001", "--contract-start", "x"],
            "--contract-start",
        ),
    ],
)
def test_out_of_range_arguments_exit_2_naming_the_option(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "Traceback" not in err


@pytest.mark.parametrize("at", ["9998-12-31T23:59:59+00:00", "2027-06-01T10:00:00+08:00"])
def test_a_callback_for_a_matter_that_has_not_arisen_yet_exits_2(
    at: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--event-at is when the matter arose: a later one made a request due in the year
    9999 (--due is how a time ahead is agreed). Nothing is stored."""
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOTLINE_NOW", "2026-11-23T10:00:00+08:00")
    argv = ["callbacks", "add", "--number", "13800000001", "--matter", "complaint:x"]
    assert main([*argv, "--event-at", at]) == 2
    err = capsys.readouterr().err
    assert "--event-at" in err and "Traceback" not in err
    assert main(["callbacks", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main([*argv, "--event-at", "2026-11-23T09:00:00+08:00"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "writer", "--pg-url", "mysql://u:Secret-pw-1@h/db"],
        ["bench", "writer", "--pg-url", "postgresql://u:Secret-pw-1@127.0.0.1:1/x"],
        ["bench", "dialer", "--database-url", "postgresql://u:Secret-pw-1@127.0.0.1:1/x"],
    ],
)
def test_a_refused_database_url_is_never_echoed(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """It may hold a password: the refusal names the option and the reason only."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert argv[2] in err and "Secret-pw-1" not in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["web", "--host", ""], ["demo", "--config", ""]])
def test_an_empty_value_is_refused_not_taken_for_the_default(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Parsed only: these commands would otherwise start servers on the default."""
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2 and f"argument {argv[1]}: must not be empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "argv"),
    [
        ("HOTLINE_DATABASE_URL", "garbage", ["calls"]),
        ("HOTLINE_DATABASE_URL", "mysql://x@y/z", ["calls"]),
        ("HOTLINE_DATABASE_URL", "sqlite:////nonexistent/dir/h.db", ["calls"]),
        ("HOTLINE_DATA_DIR", "{file}", ["calls"]),
        ("HOTLINE_DATA_DIR", "{file}", ["check-config"]),
        ("HOTLINE_NOW", "garbage", ["check-config"]),
        ("HOTLINE_NOW", "2026-02-30T10:00", ["config", "explain"]),
        ("HOTLINE_NOW", "2026-11-23T10:00", ["config", "explain"]),
        ("HOTLINE_NOW", "2026-11-23T10:00", ["simulate", "--caller", "13800000001"]),
        ("HOTLINE_NOW", "2026-11-23T10:00", ["calls"]),
    ],
)
def test_a_bad_environment_exits_2_naming_the_variable(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    argv: list[str],
) -> None:
    """A database that cannot be opened, a data directory that is a file, a pinned
    instant that is no instant: one line naming the variable, exit 2, no traceback."""
    (tmp_path / "file").write_text("")
    clean_env.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
    clean_env.setenv(variable, value.format(file=tmp_path / "file"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert variable in err or (variable == "HOTLINE_DATA_DIR" and str(tmp_path / "file") in err)
    assert "Traceback" not in err and err.count("\n") == 1


def _json_logger(stream: io.StringIO) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.addFilter(CallIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ivr.adapters.asterisk.fastagi")
    logger.addHandler(handler)
    return logger


def test_json_log_lines_carry_the_call_id() -> None:
    stream = io.StringIO()
    logger = _json_logger(stream)
    try:
        token = CALL_ID.set("1700000000.42")
        logger.error("something about the call")
        CALL_ID.reset(token)
        logger.error("nothing to do with a call")
    finally:
        logger.handlers.clear()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["call_id"] == "1700000000.42"
    assert first["message"] == "something about the call"
    assert first["level"] == "ERROR"
    assert second["call_id"] == "-"


def test_the_process_log_format_is_json_when_asked() -> None:
    code = (
        "import logging, sys; from ivr.adapters.log import configure_logging, CALL_ID;"
        "configure_logging(verbose=True, json_lines=True); CALL_ID.set('c-1');"
        "logging.getLogger('x').info('hello')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        cwd=REPO,
    )  # fmt: skip
    record = json.loads(out.stderr.strip())
    assert (record["call_id"], record["message"], record["level"]) == ("c-1", "hello", "INFO")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_and_is_quiet_elsewhere() -> None:
    from ivr.adapters.progress import Steps, progress

    for stream, shown in ((io.StringIO(), False), (_Terminal(), True)):
        assert list(progress(range(5), "counting", file=stream)) == [0, 1, 2, 3, 4]
        with Steps("building", 2, file=stream) as steps:
            steps.step("first")
            steps.step("second")
        text = stream.getvalue()
        assert (("counting" in text) and ("second" in text)) is shown, text
        if not shown:
            assert text == ""


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # `hotline config explain | head -1`: the pipe is closed before the command writes.
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("hotline")), "config", "explain",
         "--config", str(REPO / "config"), "--at", "2026-12-07T10:00:00+08:00"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


@contextlib.contextmanager
def port_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> Iterator[tuple[Path, int]]:
    """(a copy of the sample config whose hotline.yaml `setting`, "port: N", names a
    port another socket listens on, that port), with a throw-away data directory."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = edit(copy_sample(tmp_path / "config"), "hotline.yaml", setting, f"port: {port}")
        monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{tmp_path}/h.db")
        yield cfg, port


def test_a_port_in_use_is_one_line_and_exit_1_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the machine refuses (here FastAGI's port, taken by another process) is said in
    one line naming it, exit 1: it is no bad input, and no traceback either."""
    with port_taken(tmp_path, monkeypatch, "port: 4573") as (cfg, port):
        assert main(["serve", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Address already in use" in err and str(port) in err
    assert len(err.strip().splitlines()) == 1
    # what the half-started service had started is stopped: the call-log writer, the pools
    left = [t.name for t in threading.enumerate() if t.name.startswith(("hotline", "calllog"))]
    assert left == []


def test_hotline_up_with_its_web_port_taken_says_so_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web app's port is bound first: taken, `up` exits 1 in one line before the
    sandbox Asterisk starts (it used to start everything, the web thread dying with a
    traceback while `up` printed the web address)."""
    import cli.service_cmds

    started: list[str] = []
    monkeypatch.setattr(cli.service_cmds, "_sandbox_up", lambda rt: started.append("sandbox"))
    with port_taken(tmp_path, monkeypatch, "port: 8080") as (cfg, port):
        assert main(["up", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(port) in err and "in use" in err
    assert started == []


def test_hotline_demo_with_its_web_port_taken_says_so_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `up`: the demo's web port is bound before the sandbox (its lock included)
    is touched."""
    import lab.demo
    import lab.sandbox

    touched: list[str] = []
    monkeypatch.setattr(lab.demo, "provision_sandbox", lambda *a: touched.append("provision"))
    monkeypatch.setattr(lab.sandbox, "cmd_down", lambda *a: touched.append("down"))

    def exclusive(*args: object, **kwargs: object) -> None:
        touched.append("lock")
        raise AssertionError("the sandbox's lock taken before the web port was bound")

    monkeypatch.setattr(lab.sandbox.Sandbox, "exclusive", exclusive)
    with port_taken(tmp_path, monkeypatch, "port: 8080") as (cfg, port):
        assert main(["demo", "--config", str(cfg), "--minutes", "0.1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(port) in err and "in use" in err
    assert touched == []
