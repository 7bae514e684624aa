"""Every argument of every offline `hotline` subcommand, attacked with hostile values.

The option list is not written here: the test walks the real parser
(`cli.main.build_parser`), so a new subcommand, option or positional is attacked as
soon as it exists. For each subcommand a valid baseline command line is built (the
values of its required items come from BASELINE, or the first of their choices; a
new required item without one fails the test, saying so), then one item at a time
(the subcommand's and its group's: `cases --config X open`) is given each of
HOSTILE, and each required item (or required group) is left out. Each run is
`cli.main.main(argv)` in-process, with stdout and stderr as on a UTF-8 terminal
(stdout refuses a lone surrogate, stderr escapes it), on a copy of a seeded SQLite
data directory (a case, a callback, a visitor file and a backup in it) with the
sample configuration and a pinned clock. For every run:

- no exception escapes (argparse's SystemExit is fine), the exit code is 0, 1, 2 or 3,
  and stderr holds no traceback and is short (argparse's usage lines aside, at most
  three lines and MAX_ERR characters);
- exit 2 names the item: one of its flags, its dest or its metavar;
- a number option takes no digits but ASCII ("９", "٣" are refused);
- exit 0 stored nothing unreadable: every text of every table is scanned for C0/C1
  control characters, lone surrogates and bidirectional controls. Free text meant
  to hold several lines (MULTILINE: a case's summary and notes, a callback's note)
  may hold LF and tab (a CR LF is stored as LF); nothing else may, and a
  bidirectional override is refused even there, as the web app refuses it.

Values of the right shape that mean nothing here (an owner not in the roster, an
unknown language) are not for a walk to judge: the last tests name them.

For speed (all of it runs in seconds) the parser is built once, the sample
configuration is loaded once, and the copies of the migrated database are not
migrated again; a hostile --config is still loaded for real.

Skipped subcommands (they do not finish on their own or need the telephony lab;
their parse-time refusals are in test_cli.py):

- serve: runs the FastAGI server and the AMI listener until interrupted
- web: runs the web server until interrupted
- speech: runs the recognition service until interrupted
- up: starts the sandbox Asterisk, the service, the web app and the dialer
- asterisk: builds, starts or stops the sandbox Asterisk
- call: places a real SIP call through the sandbox (SIPp)
- demo: synthetic traffic through the sandbox Asterisk
- dialer: runs the callback dialer (AMI Originate or Twilio's API) until interrupted
- bench: benchmarks that run for minutes against real stores and the sandbox

`reload` is attacked: it only reaches the control socket in the throwaway data
directory, where no service listens (exit 1).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sqlite3
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-11-23T10:00:00+08:00"
PASSWORD = "a-long-enough-password"
MAX_ERR = 1000

SKIPPED = {
    "serve": "runs the FastAGI server and the AMI listener until interrupted",
    "web": "runs the web server until interrupted",
    "speech": "runs the recognition service until interrupted",
    "up": "starts the sandbox Asterisk, the service, the web app and the dialer",
    "asterisk": "builds, starts or stops the sandbox Asterisk",
    "call": "places a real SIP call through the sandbox",
    "demo": "synthetic traffic through the sandbox Asterisk",
    "dialer": "runs the callback dialer until interrupted",
    "bench": "benchmarks that run for minutes",
}

HOSTILE = (
    "",
    " ",
    "\0",
    "a\0b",
    "a\r\nb",
    "\n",
    "x" * 100_000,
    "-1",
    "0",
    "1e309",
    "nan",
    "inf",
    "\uff19",  # fullwidth 9
    "\u0663",  # Arabic-Indic 3
    "\ud800",  # a lone surrogate (what a broken argv can hold)
    "\udcff",  # surrogateescape's form of an undecodable byte
    "\u202eabc",  # right-to-left override
    "' OR 1=1 --",
    "../../etc/passwd",
    "2026-02-30",
    "9999-12-31T23:59:59",
    str(10**30),
)

# The value of each required item (and each positional) in the baseline command
# line, by (subcommand path, dest); "{case_no}" and the like are the seeded records.
BASELINE: dict[tuple[tuple[str, ...], str], str] = {
    (("agent",), "agent"): "chen",
    (("users",), "username"): "fuzzer",
    (("users",), "role"): "supervisor",
    (("callbacks", "add"), "number"): "13800000002",
    (("callbacks", "cancel"), "id"): "{callback_id}",
    (("callbacks", "done"), "id"): "{callback_id}",
    (("callbacks", "done"), "by"): "chen",
    (("callbacks", "show"), "id"): "{callback_id}",
    (("cases", "open"), "matter"): "noise at night",
    (("cases", "open"), "case_class"): "important",
    (("cases", "show"), "case_no"): "{case_no}",
    (("cases", "update"), "case_no"): "{case_no}",
    (("cases", "close"), "case_no"): "{case_no}",
    (("visitors", "check-in"), "number"): "13800000003",
    (("visitors", "check-out"), "file_no"): "{file_no}",
    (("visitors", "show"), "file_no"): "{file_no}",
    (("restore",), "file"): "{backup}",
    (("restore",), "data_dir"): "{run}/restored",
}
# Optional items the baseline gives too (a case needs a number when no call is linked).
BASELINE_OPTIONAL: dict[tuple[tuple[str, ...], str], str] = {
    (("cases", "open"), "number"): "13800000009",
    (("cases", "update"), "note"): "called back",  # an update must change something
}
# Flags the baseline needs (the password from stdin, not a terminal).
BASELINE_FLAGS: dict[tuple[str, ...], tuple[str, ...]] = {("users",): ("--password-stdin",)}

# Free text meant to hold several lines: CR, LF and tab may be stored from these.
MULTILINE = {
    (("cases", "open"), "summary"),
    (("cases", "update"), "summary"),
    (("cases", "update"), "note"),
    (("cases", "close"), "note"),
    (("callbacks", "add"), "note"),
}

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# --- the parser's tree ------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    chain: tuple[tuple[tuple[str, ...], argparse.ArgumentParser], ...]  # (path, parser)


def _subparsers(p: argparse.ArgumentParser) -> argparse._SubParsersAction | None:  # type: ignore[type-arg]
    found = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return found[0] if found else None


def _commands(parser: argparse.ArgumentParser) -> Iterator[Command]:
    def walk(p: argparse.ArgumentParser, path: tuple[str, ...], chain: tuple) -> Iterator[Command]:  # type: ignore[type-arg]
        chain = (*chain, (path, p))
        sub = _subparsers(p)
        if sub is None:
            yield Command(path, chain)
            return
        for name, child in sub.choices.items():
            yield from walk(child, (*path, name), chain)

    sub = _subparsers(parser)
    assert sub is not None
    for name, child in sub.choices.items():
        if name not in SKIPPED:
            yield from walk(child, (name,), ())


def _takes_value(a: argparse.Action) -> bool:
    return a.nargs != 0 and not isinstance(
        a, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction
    )


def _items(cmd: Command) -> Iterator[tuple[tuple[str, ...], argparse.Action]]:
    """Every value-taking item of the command and of the groups above it."""
    for path, p in cmd.chain:
        for a in p._actions:
            if _takes_value(a):
                yield path, a


def _name(a: argparse.Action) -> str:
    return max(a.option_strings, key=len) if a.option_strings else a.dest


def _names(a: argparse.Action) -> set[str]:
    names = {*a.option_strings, a.dest}
    if isinstance(a.metavar, str):
        names.add(a.metavar)
    return names


def _exclusive(cmd: Command, a: argparse.Action) -> list[argparse.Action]:
    """The other members of `a`'s mutually exclusive groups."""
    return [
        other
        for _, p in cmd.chain
        for g in p._mutually_exclusive_groups
        if a in g._group_actions
        for other in g._group_actions
        if other is not a
    ]


PARSER = build_parser()
COMMANDS = list(_commands(PARSER))
CASES = [
    pytest.param(cmd, path, _name(a), id=f"{' '.join(cmd.path)}|{' '.join(path)}|{_name(a)}")
    for cmd in COMMANDS
    for path, a in _items(cmd)
]
REQUIRED = [
    pytest.param(cmd, (a,), id=f"{' '.join(cmd.path)}|{_name(a)}")
    for cmd in COMMANDS
    for _, a in _items(cmd)
    if a.required or not a.option_strings
] + [
    pytest.param(
        cmd,
        tuple(g._group_actions),
        id=f"{' '.join(cmd.path)}|{'|'.join(map(_name, g._group_actions))}",
    )
    for cmd in COMMANDS
    for _, p in cmd.chain
    for g in p._mutually_exclusive_groups
    if g.required
]


def _action(cmd: Command, path: tuple[str, ...], name: str) -> argparse.Action:
    for p_path, a in _items(cmd):
        if p_path == path and _name(a) == name:
            return a
    raise LookupError(name)


# --- the baseline and one run -----------------------------------------------------------


def _baseline_value(cmd: Command, a: argparse.Action, seeds: Mapping[str, str]) -> str:
    value = BASELINE.get((cmd.path, a.dest)) or BASELINE_OPTIONAL.get((cmd.path, a.dest))
    if value is None and a.choices:
        value = str(next(iter(a.choices)))
    assert value is not None, f"no baseline for {' '.join(cmd.path)} {_name(a)}: add it to BASELINE"
    return value.format(**seeds)


def _argv(
    cmd: Command,
    seeds: Mapping[str, str],
    *,
    change: argparse.Action | None = None,
    value: str = "",
    drop: tuple[argparse.Action, ...] = (),
) -> list[str]:
    """The baseline command line, with `change` given `value` (and the options it
    excludes left out), or the items of `drop` left out."""
    leave_out = {id(a) for a in drop}
    if change is not None:
        leave_out |= {id(a) for a in _exclusive(cmd, change)}
    argv: list[str] = []
    for path, p in cmd.chain:
        argv.append(path[-1])
        given = [
            a
            for a in p._actions
            if _takes_value(a)
            and (a.required or not a.option_strings or (path, a.dest) in BASELINE_OPTIONAL)
        ]
        given += [g._group_actions[0] for g in p._mutually_exclusive_groups if g.required]
        if change is not None and change in p._actions and change not in given:
            given.append(change)
        for a in given:
            if id(a) in leave_out:
                continue
            v = value if a is change else _baseline_value(cmd, a, seeds)
            argv += [a.option_strings[0], v] if a.option_strings else [v]
        argv += BASELINE_FLAGS.get(path, ())
    return argv


@dataclass
class Run:
    argv: list[str]
    code: object
    out: str
    err: str
    problems: list[str]


@pytest.fixture(scope="module")
def cached_config() -> Iterator[None]:
    """The sample configuration loaded once per environment, and the parser built once
    (for speed: they were most of a run's time). Only the sample directory is cached;
    a hostile --config loads for real."""
    import ivr.bootstrap
    import ivr.config

    original = ivr.config.load_config
    sample = (REPO / "config").resolve()
    cache: dict[tuple[object, ...], Any] = {}

    def load_config(directory: Path, env: Mapping[str, str]) -> Any:
        if Path(directory).resolve() != sample:
            return original(directory, env)
        key = (directory, *sorted((k, v) for k, v in env.items() if k.startswith("HOTLINE_")))
        if key not in cache:
            cache[key] = original(directory, env)
        return cache[key]

    with pytest.MonkeyPatch.context() as mp:
        for module in (ivr.config, ivr.bootstrap):
            mp.setattr(module, "load_config", load_config)
        mp.setattr("cli.main.build_parser", lambda: PARSER)  # the same tree, built once
        yield


@pytest.fixture(scope="module")
def template(
    cached_config: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A data directory with a case, a callback, a visitor file and a backup in it."""
    data = tmp_path_factory.mktemp("fuzz") / "data"
    with pytest.MonkeyPatch.context() as mp:
        _environment(mp, data)

        def run(*argv: str) -> str:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert main(list(argv)) == 0, argv
            return out.getvalue()

        case = json.loads(
            run(
                "cases",
                "open",
                "--number",
                "13800000009",
                "--matter",
                "noise",
                "--class",
                "important",
                "--agent",
                "chen",
                "--json",
            )  # fmt: skip
        )
        callback = json.loads(run("callbacks", "add", "--number", "13800000002", "--json"))
        visitor = json.loads(run("visitors", "check-in", "--number", "13800000003", "--json"))
        run("backup")
    [backup] = (data / "backups").iterdir()
    seeds = {
        "case_no": case["case_no"],
        "callback_id": str(callback["id"]),
        "file_no": visitor["file_no"],
        "backup": f"{{data}}/backups/{backup.name}",
    }
    with pytest.MonkeyPatch.context() as mp:
        # Every run opens a copy of this migrated database: nothing to migrate (alembic
        # compiling its scripts again was a third of a run's time).
        mp.setattr("ivr.bootstrap.migrate", lambda engine: None)
        yield data, seeds


def _environment(mp: pytest.MonkeyPatch, data: Path) -> None:
    for name in [n for n in os.environ if n.startswith("HOTLINE_")]:
        mp.delenv(name)
    mp.setenv("HOTLINE_CONFIG", str(REPO / "config"))
    mp.setenv("HOTLINE_DATA_DIR", str(data))
    mp.setenv("HOTLINE_NOW", NOW)


class Runner:
    def __init__(
        self,
        template: tuple[Path, dict[str, str]],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.source, self.seeds = template
        self.mp = monkeypatch
        # One place for every run of the module (the configuration is loaded once for it).
        self.run = self.source.parent / "run"
        self.data = self.run / "data"
        self.files: dict[str, tuple[int, int]] | None = None
        _environment(monkeypatch, self.data)
        work = tmp_path / "a" / "b" / "c"  # ../../ stays in the test's directory
        work.mkdir(parents=True)
        monkeypatch.chdir(work)

    def fresh(self) -> dict[str, str]:
        """The seeded data directory as it was, for one run (copied again when the
        last run changed a file in the run's directory), and the seeds in it."""
        self.mp.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        if self.files is None or _files(self.run) != self.files:
            shutil.rmtree(self.run, ignore_errors=True)
            shutil.copytree(self.source, self.data)
            self.files = _files(self.run)
        seeds = {k: v.format(data=self.data) for k, v in self.seeds.items()}
        return seeds | {"run": str(self.run)}

    def __call__(self, argv: list[str], item: argparse.Action | None, multiline: bool) -> Run:
        problems: list[str] = []
        code: object = None
        # As a UTF-8 terminal: stdout refuses what cannot be encoded, stderr escapes it.
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
        err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code
            except Exception as e:  # noqa: BLE001 - what the test is looking for
                problems.append(f"raised {type(e).__name__}: {str(e)[:200]}")
        run = Run(argv, code, _text(out), _text(err), problems)
        if not problems:
            problems += _judge(run, item, multiline, self.data)
        return run


def _files(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under `directory` with its size and time of change."""
    return {str(f): (f.stat().st_size, f.stat().st_mtime_ns) for f in directory.rglob("*")}


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8")


def _message(err: str) -> list[str]:
    """stderr without argparse's usage lines."""
    lines = err.splitlines()
    if lines and lines[0].startswith("usage:"):
        lines = lines[1:]
        while lines and lines[0].startswith(" "):
            lines = lines[1:]
    return lines


def _judge(run: Run, item: argparse.Action | None, multiline: bool, data: Path) -> list[str]:
    problems = []
    if run.code not in (0, 1, 2, 3):
        problems.append(f"exit {run.code!r}")
    if "Traceback" in run.err:
        problems.append("a traceback on stderr")
    message = _message(run.err)
    if len(message) > 3 or sum(map(len, message)) > MAX_ERR:
        problems.append(f"stderr too long ({len(message)} lines, {len(run.err)} chars)")
    if run.code == 2 and item is not None and not any(n in run.err for n in _names(item)):
        problems.append(f"exit 2 without naming {_name(item)}: {run.err.strip()[:200]!r}")
    if run.code == 0:
        problems += _stored_badly(data, multiline)
    return problems


def _bad_char(text: str, multiline: bool) -> str | None:
    for ch in text:
        if multiline and ch in "\r\n\t":
            continue
        if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            return f"U+{ord(ch):04X}"
    return None


def _stored_badly(data: Path, multiline: bool) -> list[str]:
    """Every text column of every table: no control, surrogate or bidi character."""
    db = sqlite3.connect(f"file:{data / 'hotline.db'}?mode=ro", uri=True)
    db.text_factory = lambda b: b.decode("utf-8", "surrogatepass")
    found = []
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cur = db.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the schema
            columns = [d[0] for d in cur.description]
            for row in cur:
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, str) and (bad := _bad_char(value, multiline)):
                        found.append(f"stored {bad} in {table}.{column}")
    finally:
        db.close()
    return found


@pytest.fixture
def runner(
    template: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Runner:
    return Runner(template, tmp_path, monkeypatch)


def _report(failures: list[tuple[Run, list[str]]]) -> str:
    lines = []
    for run, problems in failures:
        shown = [a if len(a) < 40 else f"{a[:20]}...({len(a)} chars)" for a in run.argv]
        lines.append(f"{shown!r} -> exit {run.code!r}: {'; '.join(problems)}")
    return "\n".join(lines)


# --- the tests --------------------------------------------------------------------------


def test_the_walk_finds_the_offline_commands() -> None:
    paths = {" ".join(c.path) for c in COMMANDS}
    assert {"check-config", "cases open", "callbacks add", "visitors check-in"} <= paths
    assert not paths & set(SKIPPED)
    top = _subparsers(PARSER)
    assert top is not None and set(SKIPPED) <= set(top.choices)


def test_every_baseline_is_accepted(runner: Runner) -> None:
    """Each subcommand's baseline command line works (else the attacks prove nothing)."""
    failures = []
    for cmd in COMMANDS:
        seeds = runner.fresh()
        run = runner(_argv(cmd, seeds), None, False)
        if run.code not in (0, 1) or run.problems:  # reload: no service, exit 1
            failures.append((run, [*run.problems, run.err.strip()[:200]]))
    assert not failures, _report(failures)


@pytest.mark.parametrize(("cmd", "path", "name"), CASES)
def test_a_hostile_value_is_refused_by_name_or_taken_cleanly(
    runner: Runner, cmd: Command, path: tuple[str, ...], name: str
) -> None:
    item = _action(cmd, path, name)
    multiline = (cmd.path, item.dest) in MULTILINE
    failures = []
    numeric = getattr(item.type, "__name__", "") in ("whole number", "number")
    for value in HOSTILE:
        seeds = runner.fresh()
        run = runner(_argv(cmd, seeds, change=item, value=value), item, multiline)
        if numeric and run.code == 0 and not value.isascii():
            run.problems.append("a number in other digits than ASCII taken")
        if run.problems:
            failures.append((run, run.problems))
    assert not failures, _report(failures)


@pytest.mark.parametrize(("cmd", "items"), REQUIRED)
def test_a_missing_required_item_exits_2_naming_it(
    runner: Runner, cmd: Command, items: tuple[argparse.Action, ...]
) -> None:
    seeds = runner.fresh()
    run = runner(_argv(cmd, seeds, drop=items), items[0], False)
    assert run.code == 2 and not run.problems, _report([(run, run.problems)])


# --- what the walk cannot judge: values of the right shape that mean nothing here ------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (
            [
                "cases",
                "open",
                "--number",
                "13800000009",
                "--matter",
                "m",
                "--class",
                "important",
                "--agent",
                "nobody",
            ],
            "--agent",
        ),  # fmt: skip
        (["cases", "update", "{case_no}", "--owner", "nobody"], "--owner"),
        (["callbacks", "add", "--number", "13800000002", "--language", "xx"], "--language"),
        (["callbacks", "add", "--number", "13800000002", "--branch", "nowhere"], "--branch"),
        (["simulate", "--keys", "1x"], "--keys"),
        (["calls", "--limit", "\uff11\uff10"], "--limit"),  # fullwidth 10
        (["rollups", "--sl-seconds", "1_0"], "--sl-seconds"),
        (["restore", "{backup}", "--database-url", "sqlite:///x.db"], "--database-url"),
    ],
)
def test_a_value_of_the_right_shape_that_means_nothing_here_exits_2_naming_it(
    runner: Runner, argv: list[str], named: str
) -> None:
    """An owner not in the roster (the web app refuses it too), a language or branch
    the hotline does not have, a key no phone has, digits of another script."""
    seeds = runner.fresh()
    run = runner([a.format(**seeds) for a in argv], None, False)
    assert run.code == 2 and not run.problems, _report([(run, run.problems)])
    assert f"argument {named}" in run.err


def test_a_summary_keeps_its_lines_a_crlf_becoming_a_line_feed(runner: Runner) -> None:
    seeds = runner.fresh()
    summary = "first line\r\nsecond\tline"
    run = runner(["cases", "update", seeds["case_no"], "--summary", summary, "--json"], None, True)
    assert run.code == 0 and not run.problems, _report([(run, run.problems)])
    assert json.loads(run.out)["summary"] == "first line\nsecond\tline"
