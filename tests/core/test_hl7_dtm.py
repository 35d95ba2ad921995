"""HL7 DTM both ways, as tables of cases (pure): offsets, no offset, the DST gap and overlap, date only,
the precision variants and fractional seconds."""
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from broker.core.hl7v2.dtm import (
    DAY,
    FRACTION,
    HOUR,
    MINUTE,
    MONTH,
    SECOND,
    YEAR,
    NonexistentLocalTime,
    NotDTM,
    format_dtm,
    parse_dtm,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize("text, utc, precision, offset_sent", [
    ("20260315093000", datetime(2026, 3, 15, 8, 30, tzinfo=UTC), SECOND, False),
    ("202603150930", datetime(2026, 3, 15, 8, 30, tzinfo=UTC), MINUTE, False),
    ("2026031509", datetime(2026, 3, 15, 8, 0, tzinfo=UTC), HOUR, False),
    ("20260315093000.1", datetime(2026, 3, 15, 8, 30, 0, 100000, tzinfo=UTC), FRACTION, False),
    ("20260315093000.1234", datetime(2026, 3, 15, 8, 30, 0, 123400, tzinfo=UTC), FRACTION, False),
    ("20260715093000", datetime(2026, 7, 15, 7, 30, tzinfo=UTC), SECOND, False),  # CEST, UTC+2
    ("20260315093000+0100", datetime(2026, 3, 15, 8, 30, tzinfo=UTC), SECOND, True),
    ("20260315093000+0000", datetime(2026, 3, 15, 9, 30, tzinfo=UTC), SECOND, True),
    ("202603151130-0500", datetime(2026, 3, 15, 16, 30, tzinfo=UTC), MINUTE, True),
    ("20260315093000.5+0530", datetime(2026, 3, 15, 4, 0, 0, 500000, tzinfo=UTC), FRACTION, True),
    # an offset that is not the department's is honoured as sent, not replaced
    ("20260715093000+0100", datetime(2026, 7, 15, 8, 30, tzinfo=UTC), SECOND, True),
])
def test_it_reads_a_time_in_the_department_zone_unless_it_has_an_offset(text, utc, precision, offset_sent):
    value = parse_dtm(text, BERLIN)
    assert value.moment == utc and value.moment.utcoffset() is not None
    assert (value.precision, value.offset_sent, value.ambiguous, value.date_only) == (precision, offset_sent,
                                                                                      False, False)


@pytest.mark.parametrize("text, day, precision", [
    ("20261204", date(2026, 12, 4), DAY),
    ("20261204+0100", date(2026, 12, 4), DAY),  # a date with an offset is still that date
    ("202612", date(2026, 12, 1), MONTH),
    ("2026", date(2026, 1, 1), YEAR),
])
def test_it_reads_a_date_alone_as_a_date(text, day, precision):
    value = parse_dtm(text, BERLIN)
    assert value.date_only and value.precision == precision and value.date == day
    assert value.moment == datetime(day.year, day.month, day.day, tzinfo=BERLIN)


@pytest.mark.parametrize("text, zone", [
    ("20260329023000", BERLIN),  # 02:00 → 03:00 on the last Sunday of March
    ("202603290200", BERLIN),
    ("2026032902", BERLIN),
    ("20260329025959.9999", BERLIN),
    ("20260308023000", NEW_YORK),
])
def test_it_refuses_a_wall_clock_time_the_zone_skips(text, zone):
    with pytest.raises(NonexistentLocalTime) as caught:
        parse_dtm(text, zone)
    assert str(zone) in str(caught.value)


def test_it_names_both_offsets_of_the_gap():
    with pytest.raises(NonexistentLocalTime) as caught:
        parse_dtm("20260329023000", BERLIN)
    assert caught.value.offsets == ("+0100", "+0200")


@pytest.mark.parametrize("text, zone, utc", [
    ("20260329023000+0100", BERLIN, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # with an offset: no gap
    ("20260329015959", BERLIN, datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)),
    ("20260329030000", BERLIN, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    ("20260329", BERLIN, datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),  # the date of the switch itself
])
def test_it_reads_the_edges_of_the_gap(text, zone, utc):
    assert parse_dtm(text, zone).moment == utc


@pytest.mark.parametrize("text, utc, ambiguous", [
    ("20261025023000", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), True),  # first 02:30 (CEST)
    ("20261025020000", datetime(2026, 10, 25, 0, 0, tzinfo=UTC), True),
    ("20261025025959", datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC), True),
    ("20261025030000", datetime(2026, 10, 25, 2, 0, tzinfo=UTC), False),
    ("20261025015959", datetime(2026, 10, 24, 23, 59, 59, tzinfo=UTC), False),
    ("20261025023000+0100", datetime(2026, 10, 25, 1, 30, tzinfo=UTC), False),  # the second one, said so
    ("20261025023000+0200", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), False),
])
def test_it_reads_a_repeated_wall_clock_time_as_its_first_occurrence(text, utc, ambiguous):
    value = parse_dtm(text, BERLIN)
    assert (value.moment, value.ambiguous) == (utc, ambiguous)


@pytest.mark.parametrize("text", ["2026-03-15", "20261315", "20260230", "2026031509300", "yesterday",
                                  "20260315093000+2500", "20260315093000+0160", "20260315246000",
                                  "20260315093000.12345", "20260315093000,5", "20260315093000+01"])
def test_it_refuses_what_is_not_a_dtm(text):
    with pytest.raises(NotDTM):
        parse_dtm(text, BERLIN)


@pytest.mark.parametrize("text", ["", "   "])
def test_it_reads_an_empty_value_as_none(text):
    assert parse_dtm(text, BERLIN) is None


@pytest.mark.parametrize("value, text", [
    (datetime(2026, 3, 15, 8, 30, tzinfo=UTC), "20260315093000+0100"),
    (datetime(2026, 7, 15, 7, 30, tzinfo=UTC), "20260715093000+0200"),
    # both sides of the spring switch
    (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), "20260329015959+0100"),
    (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "20260329030000+0200"),
    # the autumn hour that happens twice: the offset tells them apart
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "20261025023000+0200"),
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "20261025023000+0100"),
    (datetime(2026, 3, 15, 9, 30, 0, 999999, tzinfo=timezone(timedelta(hours=1))), "20260315093000+0100"),
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "20270101003000+0100"),
    (date(2026, 12, 4), "20261204"),
])
def test_it_writes_the_department_wall_clock_time_with_its_offset(value, text):
    assert format_dtm(value, BERLIN) == text


@pytest.mark.parametrize("zone, text", [
    (ZoneInfo("America/New_York"), "20260315043000-0400"),
    (ZoneInfo("Asia/Kolkata"), "20260315140000+0530"),
    (ZoneInfo("America/St_Johns"), "20260315060000-0230"),
    (UTC, "20260315083000+0000"),
])
def test_it_writes_negative_and_half_hour_offsets(zone, text):
    assert format_dtm(datetime(2026, 3, 15, 8, 30, tzinfo=UTC), zone) == text


def test_it_refuses_to_write_a_naive_datetime():
    with pytest.raises(ValueError):
        format_dtm(datetime(2026, 3, 15, 9, 30), BERLIN)


@pytest.mark.parametrize("moment", [datetime(2026, 3, 29, 0, 30, tzinfo=UTC) + timedelta(minutes=15 * n)
                                    for n in range(12)] + [datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
                                                           + timedelta(minutes=15 * n) for n in range(16)])
def test_what_it_writes_it_reads_back_as_the_same_instant(moment):
    assert parse_dtm(format_dtm(moment, BERLIN), BERLIN).moment == moment


def test_it_starts_a_date_at_the_first_instant_of_a_day_whose_midnight_is_skipped():
    havana = ZoneInfo("America/Havana")  # clocks go from 00:00 to 01:00 on 2026-03-08
    value = parse_dtm("20260308", havana)
    assert value.date == date(2026, 3, 8) and value.moment == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
