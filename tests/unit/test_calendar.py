"""Opening hours: weekly windows, midnight crossings, daylight saving, holidays, make-up days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from ivr.config import HotlineConfig
from ivr.domain.calendar import (
    Calendar,
    DayKind,
    Holiday,
    MakeupDay,
    TimeWindow,
    parse_window,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def cal(
    tz: ZoneInfo = SHANGHAI,
    holidays: dict[date, str] | None = None,
    makeup: dict[date, str] | None = None,
    **weekly: list[str],
) -> Calendar:
    """Calendar(tz, mon=["09:00-17:00"], ...); holidays/makeup map a date to a name/weekday."""
    return Calendar(
        tz=tz,
        weekly={day: tuple(parse_window(w) for w in ws) for day, ws in weekly.items()},
        holidays={d: Holiday(d, name) for d, name in (holidays or {}).items()},
        makeup_days={d: MakeupDay(d, wd, "make-up") for d, wd in (makeup or {}).items()},
    )


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


# --- the sample calendar ------------------------------------------------------------


@pytest.fixture
def sample(sample_config: HotlineConfig) -> Calendar:
    return sample_config.calendar


@pytest.mark.parametrize(
    ("hh", "mm", "is_open"),
    [
        (9, 29, False),
        (9, 30, True),
        (11, 29, True),
        (11, 30, False),
        (12, 15, False),  # lunch
        (13, 0, True),
        (16, 59, True),
        (17, 0, False),
        (3, 0, False),
    ],
)
def test_sample_monday_windows_are_half_open(
    sample: Calendar, hh: int, mm: int, is_open: bool
) -> None:
    assert sample.is_open(sh(2026, 11, 23, hh, mm)) is is_open


def test_open_status_names_the_window(sample: Calendar) -> None:
    status = sample.status(sh(2026, 11, 23, 10))
    assert status.open
    assert status.day_kind is DayKind.WORKDAY
    assert "09:30-11:30" in status.reason
    assert status.local_time == sh(2026, 11, 23, 10)


def test_instants_are_evaluated_in_the_site_time_zone(sample: Calendar) -> None:
    # 02:00 UTC is 10:00 in Shanghai (open); 01:00 UTC is 09:00 (closed).
    assert sample.is_open(utc(2026, 11, 23, 2))
    assert not sample.is_open(utc(2026, 11, 23, 1))
    # Sunday 20:00 UTC is already Monday 04:00 in Shanghai (closed); Monday
    # 05:00 UTC is 13:00 (open) although it is still Monday morning in UTC.
    early = sample.status(utc(2026, 11, 22, 20))
    assert early.local_time.date() == date(2026, 11, 23)
    assert not early.open and early.day_kind is DayKind.WORKDAY
    assert sample.is_open(utc(2026, 11, 23, 5))


def test_weekend_is_closed_with_reason(sample: Calendar) -> None:
    status = sample.status(sh(2026, 11, 22, 10))  # a Sunday
    assert not status.open
    assert status.day_kind is DayKind.WEEKEND
    assert "weekend" in status.reason


def test_naive_datetime_is_refused(sample: Calendar) -> None:
    with pytest.raises(ValueError, match="aware"):
        sample.status(datetime(2026, 11, 23, 10))  # noqa: DTZ001 - the point of the test


# --- holidays and make-up days --------------------------------------------------------


@pytest.mark.parametrize("day", range(1, 8))
@pytest.mark.parametrize(("hh", "mm"), [(0, 0), (10, 0), (14, 0), (23, 59)])
def test_national_day_is_closed_all_day_and_named(
    sample: Calendar, day: int, hh: int, mm: int
) -> None:
    status = sample.status(sh(2026, 10, day, hh, mm))
    assert not status.open
    assert status.day_kind is DayKind.HOLIDAY
    assert "National Day" in status.reason


def test_day_after_national_day_is_open_again(sample: Calendar) -> None:
    assert sample.is_open(sh(2026, 10, 8, 10))  # Thursday
    assert sample.day_kind(date(2026, 10, 8)) is DayKind.WORKDAY


def test_single_day_holiday_on_a_weekday(sample: Calendar) -> None:
    status = sample.status(sh(2026, 1, 1, 10))  # a Thursday
    assert not status.open
    assert "New Year's Day" in status.reason
    assert sample.is_open(sh(2026, 1, 2, 10))


def test_makeup_saturday_opens_as_a_friday(sample: Calendar) -> None:
    saturday = date(2026, 10, 10)
    assert saturday.weekday() == 5
    status = sample.status(sh(2026, 10, 10, 10))
    assert status.open
    assert status.day_kind is DayKind.MAKEUP
    assert sample.weekday_rule(saturday) == "fri"
    assert sample.is_workday(saturday)
    assert not sample.is_open(sh(2026, 10, 10, 12))  # Friday's lunch break applies too
    assert sample.is_open(sh(2026, 10, 10, 16, 59))
    assert not sample.is_open(sh(2026, 10, 11, 10))  # the Sunday after is an ordinary weekend


def test_makeup_day_uses_the_hours_of_the_weekday_it_works_as() -> None:
    c = cal(mon=["08:00-09:00"], fri=["14:00-15:00"], makeup={date(2026, 10, 10): "fri"})
    assert c.is_open(sh(2026, 10, 10, 14, 30))
    assert not c.is_open(sh(2026, 10, 10, 8, 30))
    c_mon = cal(mon=["08:00-09:00"], fri=["14:00-15:00"], makeup={date(2026, 10, 10): "mon"})
    assert c_mon.is_open(sh(2026, 10, 10, 8, 30))
    assert not c_mon.is_open(sh(2026, 10, 10, 14, 30))


def test_holiday_takes_precedence_over_the_weekly_hours() -> None:
    c = cal(mon=["00:00-23:59"], holidays={date(2026, 11, 23): "Test Day"})
    status = c.status(sh(2026, 11, 23, 12))
    assert not status.open
    assert status.reason == "closed: holiday (Test Day)"
    assert c.windows_for(date(2026, 11, 23)) == ()


# --- windows crossing midnight -------------------------------------------------------


@pytest.fixture
def night() -> Calendar:
    """Only Monday has a window, 22:00-06:00: it runs into Tuesday morning."""
    return cal(mon=["22:00-06:00"])


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (sh(2026, 11, 23, 21, 59), False),  # Monday before the start
        (sh(2026, 11, 23, 22, 0), True),
        (sh(2026, 11, 23, 23, 0), True),
        (sh(2026, 11, 24, 0, 0), True),  # Tuesday, after midnight
        (sh(2026, 11, 24, 5, 59), True),
        (sh(2026, 11, 24, 6, 0), False),  # the end is exclusive
        (sh(2026, 11, 23, 5, 0), False),  # Monday morning: Sunday has no window
        (sh(2026, 11, 24, 23, 0), False),  # Tuesday night: Tuesday has no window
    ],
)
def test_window_crossing_midnight(night: Calendar, at: datetime, is_open: bool) -> None:
    assert night.is_open(at) is is_open


def test_spill_over_names_the_day_the_window_started(night: Calendar) -> None:
    status = night.status(sh(2026, 11, 24, 5, 59))
    assert status.open
    assert "2026-11-23" in status.reason
    assert "22:00-06:00" in status.reason


def test_night_window_belongs_to_the_day_it_starts_on() -> None:
    # Started on an ordinary Monday: runs on into a holiday Tuesday morning.
    into_holiday = cal(mon=["22:00-06:00"], holidays={date(2026, 11, 24): "Tuesday Off"})
    assert into_holiday.is_open(sh(2026, 11, 24, 2))
    # Would start on a holiday Monday: no spill-over into Tuesday at all.
    from_holiday = cal(mon=["22:00-06:00"], holidays={date(2026, 11, 23): "Monday Off"})
    assert not from_holiday.is_open(sh(2026, 11, 23, 23))
    assert not from_holiday.is_open(sh(2026, 11, 24, 2))


def test_window_ending_at_24_00_ends_at_midnight() -> None:
    c = cal(mon=["22:00-24:00"])
    assert c.is_open(sh(2026, 11, 23, 23, 59))
    assert not c.is_open(sh(2026, 11, 24, 0, 0))


# --- daylight saving (Europe/Berlin) -----------------------------------------------


def test_spring_forward_wall_clock_window() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST. The 01:00-05:00 window is
    # 00:00Z-03:00Z: three real hours.
    c = cal(tz=BERLIN, sun=["01:00-05:00"])
    assert c.is_open(utc(2026, 3, 29, 1, 30))  # 03:30 CEST
    assert c.local(utc(2026, 3, 29, 1, 30)).time() == time(3, 30)
    assert not c.is_open(utc(2026, 3, 29, 3, 30))  # 05:30 CEST
    assert c.is_open(utc(2026, 3, 29, 0, 0))  # 01:00 CET: the start
    assert c.is_open(utc(2026, 3, 29, 2, 59))  # 04:59 CEST
    assert not c.is_open(utc(2026, 3, 29, 3, 0))  # 05:00 CEST: the end
    assert not c.is_open(utc(2026, 3, 28, 23, 59))  # 00:59 CET


def test_fall_back_repeated_hour_is_inside_the_window_both_times() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    c = cal(tz=BERLIN, sun=["02:00-04:00"])
    first, second = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)
    for at in (first, second):
        assert c.local(at).time() == time(2, 30)
        assert c.is_open(at)
    assert c.local(first).utcoffset() != c.local(second).utcoffset()
    # 02:00 CEST (00:00Z) to 04:00 CET (03:00Z): three real hours.
    assert not c.is_open(utc(2026, 10, 24, 23, 59))  # 01:59 CEST
    assert c.is_open(utc(2026, 10, 25, 0, 0))
    assert c.is_open(utc(2026, 10, 25, 2, 59))  # 03:59 CET
    assert not c.is_open(utc(2026, 10, 25, 3, 0))  # 04:00 CET


# --- parse_window and TimeWindow -----------------------------------------------------


def test_parse_window_reads_start_and_end() -> None:
    w = parse_window("09:30-11:30")
    assert (w.start, w.end) == (time(9, 30), time(11, 30))
    assert not w.crosses_midnight
    assert str(w) == "09:30-11:30"
    assert parse_window(" 22:00 - 06:00 ").crosses_midnight


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("25:00-26:00", "'25:00' is not a valid time of day"),
        ("9:00-25:00", "'25:00' is not a valid time of day"),
        ("09:60-10:00", "'09:60' is not a valid time of day"),
        ("09:00", "not of the form HH:MM-HH:MM"),
        ("09:00-10:00-11:00", "not of the form HH:MM-HH:MM"),
        ("09:00-09:00", "empty"),
        ("ab:cd-10:00", "'ab:cd' is not HH:MM"),
        ("0900-1000", "'0900' is not HH:MM"),
        ("", "not of the form"),
        # was this day's 00:00-06:00 (the night before), not the night after
        ("24:00-06:00", "24:00 is the day's end"),
        ("24:00-24:00", "24:00 is the day's end"),
    ],
)
def test_parse_window_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_window(text)
    assert message in str(info.value)
    assert repr(text) in str(info.value)


def test_whole_day_window_00_00_to_24_00() -> None:
    w = parse_window("00:00-24:00")
    c = Calendar(SHANGHAI, {"mon": (w,)})
    assert c.is_open(sh(2026, 11, 23, 0, 0))
    assert c.is_open(sh(2026, 11, 23, 23, 59))


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("09:00-12:00", "11:00-13:00", True),
        ("09:30-11:30", "11:30-13:00", False),  # touching ends do not overlap
        ("22:00-06:00", "23:00-23:30", True),
        ("22:00-06:00", "05:00-09:00", False),  # the spill-over is the next morning
        ("13:00-17:00", "09:30-11:30", False),
    ],
)
def test_time_window_overlaps(a: str, b: str, overlap: bool) -> None:
    wa, wb = parse_window(a), parse_window(b)
    assert wa.overlaps(wb) is overlap
    assert wb.overlaps(wa) is overlap


def test_time_window_coverage_predicates() -> None:
    w = TimeWindow(time(22), time(6))
    assert w.covers_same_day(time(23)) and not w.covers_same_day(time(5))
    assert w.covers_next_day(time(5, 59)) and not w.covers_next_day(time(6))
    day = TimeWindow(time(9), time(17))
    assert not day.covers_next_day(time(8))
