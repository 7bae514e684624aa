"""Erlang C against published worked examples."""

from __future__ import annotations

import math

import pytest

from ivr.domain.erlang import (
    agents_needed,
    average_speed_of_answer,
    erlang_c,
    service_level,
    traffic_intensity,
)


def test_call_centre_helper_worked_example() -> None:
    """Call Centre Helper, "Erlang C Formula – Made Simple with an Easy Worked Example":
    100 calls in 30 minutes, AHT 180 s, target 80 % answered in 20 s.
    Traffic 10 Erlangs; with 11 agents Pw = 68.21 %, SL = 39.0 %, ASA = 122.8 s;
    14 agents are needed (SL 88.8 %)."""
    a = traffic_intensity(100, 180, 1800)
    assert a == 10.0
    assert erlang_c(11, a) == pytest.approx(0.6821, abs=5e-5)
    assert service_level(11, a, 180, 20) == pytest.approx(0.390, abs=5e-4)
    assert average_speed_of_answer(11, a, 180) == pytest.approx(122.8, abs=0.05)
    need = agents_needed(100, 180, 1800, 0.80, 20)
    assert need.agents == 14
    assert need.service_level == pytest.approx(0.888, abs=5e-4)
    assert need.occupancy == pytest.approx(10 / 14)
    assert service_level(13, a, 180, 20) < 0.80  # 13 agents fall short (79.6 %)


def test_westbay_erlang_c_example() -> None:
    """Westbay Engineers, "The Erlang-C formula" step-by-step example: 360 calls per half
    hour, 4-minute calls, 55 agents, 15 s target: A = 48 Erlangs, occupancy 87.3 %,
    Pw = 23.87 %, ASA 8.2 s, service level 84.6 %."""
    a = traffic_intensity(360, 240, 1800)
    assert a == 48.0
    assert a / 55 == pytest.approx(0.873, abs=5e-4)
    assert erlang_c(55, a) == pytest.approx(0.2387, abs=5e-5)
    assert average_speed_of_answer(55, a, 240) == pytest.approx(8.18, abs=0.01)
    assert service_level(55, a, 240, 15) == pytest.approx(0.846, abs=5e-4)


def test_erlang_c_matches_the_textbook_sum() -> None:
    """The B-recursion equals the closed form with factorials where both are exact."""
    for n, a in ((3, 2.0), (5, 4.2), (20, 15.0)):
        top = a**n / math.factorial(n) * n / (n - a)
        bottom = sum(a**k / math.factorial(k) for k in range(n)) + top
        assert erlang_c(n, a) == pytest.approx(top / bottom, rel=1e-12)


def test_edges() -> None:
    assert erlang_c(5, 5.0) == 1.0  # unstable queue
    assert service_level(3, 4.0, 180, 20) == 0.0
    assert math.isinf(average_speed_of_answer(2, 2.0, 180))
    assert agents_needed(0, 180, 1800, 0.8, 20).agents == 0
    assert erlang_c(300, 250.0) < 1.0  # no overflow with hundreds of agents
    with pytest.raises(ValueError, match="between 0 and 1"):
        agents_needed(10, 180, 1800, 80, 20)


@pytest.mark.parametrize("calls", [9_000, 2_000_000])  # 900 Erlangs, 200,000 Erlangs
def test_more_agents_than_the_bound_is_said_not_raised(calls: int) -> None:
    """A storm in the history (callers shed by the thousand) makes a half hour need more
    agents than Erlang C is asked to count: that is the answer, not an error (the
    planner answered 500)."""
    need = agents_needed(calls, 180, 1800, 0.8, 20, max_agents=100)
    assert need.over and need.agents == 101
    assert need.traffic == calls * 180 / 1800 and 0 <= need.service_level < 0.8
    assert not agents_needed(600, 180, 1800, 0.8, 20, max_agents=100).over  # 60 Erlangs
