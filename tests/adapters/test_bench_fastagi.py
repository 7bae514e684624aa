"""`hotline bench fastagi` on a few calls: real dialogs with the real service, and the floor."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from ivr.adapters.asterisk.agi import parse_env_line, parse_result
from lab.bench.fastagi import KEY, _reply, environment, run


def _env(block: bytes) -> dict[str, str]:
    items = [parse_env_line(line) for line in block.decode().split("\n")[:-2]]
    assert None not in items  # no blank line before the end of the block
    return dict(i for i in items if i is not None)


def test_the_environment_is_a_whole_agi_block_with_a_new_call_each_time() -> None:
    first, second = environment(1), environment(2)
    assert first.endswith(b"\n\n") and first.count(b"\n\n") == 1
    env = _env(first)
    assert len(env) >= 20 and env["agi_network_script"] == "hotline"
    assert env["agi_uniqueid"] != _env(second)["agi_uniqueid"]
    assert env["agi_callerid"] != _env(second)["agi_callerid"]


@pytest.mark.parametrize(
    ("command", "result"),
    [
        (b"GET DATA hotline/zh-CN/welcome 5000 1\n", KEY),
        (b"WAIT FOR DIGIT 5000\n", str(ord(KEY))),
        (b"STREAM FILE hotline/zh-CN/menu_short 0123456789*#\n", "0"),
        (b"SET VARIABLE A b\n", "1"),
        (b"EXEC MSet A=b\n", "0"),
    ],
)
def test_each_command_gets_the_answer_asterisk_gives(command: bytes, result: str) -> None:
    assert parse_result(_reply(command).decode()).result == result


def test_a_small_run_serves_every_call_and_records_it() -> None:
    out = run(calls=40, concurrency=10, key_s=0.05)
    service, floor = out["service"], out["floor"]
    # the IVR's dialog: the key (GET DATA), then the route (MSet); a record per call
    assert service["commands_per_call"] == floor["commands_per_call"] == 2.0
    assert service["dialogs"] == 40 and service["commands"] == 80
    assert service["records"] == 40
    assert out["service_cpu_ms"] > 0 and out["floor_cpu_ms"] >= 0


def test_the_command_exits_2_on_a_bad_concurrency(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fastagi", "--concurrency", "0"]) == 2
    assert "--concurrency" in capsys.readouterr().err


def test_the_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fastagi", "--calls", "10", "--concurrency", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calls"] == 10 and out["service"]["records"] == 10
