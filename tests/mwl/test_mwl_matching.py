"""The pure parts of the worklist query, as tables of cases: values, matching, names, charsets, plans."""
from datetime import date, time

import pytest
from pydicom import Dataset

from worklist.mwl import values
from worklist.mwl.charset import fit_person_name, fits, parse_character_set, transliterate
from worklist.mwl.plan import build_plan
from worklist.mwl.values import InvalidIdentifier, Range


@pytest.mark.parametrize("text, expected", [
    ("", True), ("*", True), ("**", True), (" ", True), ("CT*", False), ("CT01", False), ('""', False),
])
def test_it_recognises_universal_values(text, expected):
    assert values.is_universal(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("20260501", Range(date(2026, 5, 1), date(2026, 5, 1))),
    ("20260501-20260507", Range(date(2026, 5, 1), date(2026, 5, 7))),
    ("-20260507", Range(None, date(2026, 5, 7))),
    ("20260501-", Range(date(2026, 5, 1), None)),
    ("2026.05.01", Range(date(2026, 5, 1), date(2026, 5, 1))),
])
def test_it_parses_date_ranges(text, expected):
    assert values.parse_date_range(text, "StudyDate") == expected


@pytest.mark.parametrize("text", ["2026-05-01", "20261301", "202605", "20260507-20260501", "-", "1-2-3"])
def test_it_rejects_bad_dates(text):
    with pytest.raises(InvalidIdentifier) as raised:
        values.parse_date_range(text, "StudyDate")
    assert raised.value.keyword == "StudyDate"


@pytest.mark.parametrize("text, expected", [
    ("10", Range(time(10), time(10, 59, 59, 999999))),
    ("1030", Range(time(10, 30), time(10, 30, 59, 999999))),
    ("103015.5", Range(time(10, 30, 15, 500000), time(10, 30, 15, 599999))),
    ("0800-1200", Range(time(8), time(12, 0, 59, 999999))),
    ("-12", Range(None, time(12, 59, 59, 999999))),
    ("08:00-", Range(time(8), None)),
])
def test_it_parses_time_ranges(text, expected):
    assert values.parse_time_range(text, "ScheduledProcedureStepStartTime") == expected


@pytest.mark.parametrize("text", ["25", "1x", "10300", "10-11-12", "1060"])
def test_it_rejects_bad_times(text):
    with pytest.raises(InvalidIdentifier):
        values.parse_time_range(text, "ScheduledProcedureStepStartTime")


@pytest.mark.parametrize("text, charsets, expected", [
    ("Dvořák", ["ISO_IR 100"], "Dvorák"),
    ("Dvořák", ["ISO_IR 6"], "Dvorak"),
    ("Straße", ["ISO_IR 6"], "Strasse"),
    ("Müller", ["ISO_IR 100"], "Müller"),
    ("やまだ", ["ISO_IR 100"], "YAMADA"),
    ("山田", ["ISO_IR 192"], "山田"),
    ("山", ["ISO_IR 100"], "?"),
])
def test_it_transliterates_what_a_charset_cannot_carry(text, charsets, expected):
    assert transliterate(text, charsets) == expected


@pytest.mark.parametrize("name, charsets, expected", [
    ("Yamada^Tarou=山田^太郎=やまだ^たろう", ["ISO_IR 100"], "Yamada^Tarou"),
    ("=山田^太郎=やまだ^たろう", ["ISO_IR 100"], "YAMADA^TAROU"),
    ("Yamada^Tarou=山田^太郎=やまだ^たろう", ["ISO 2022 IR 6", "ISO 2022 IR 87"],
     "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    ("Dvořák^Antonín", ["ISO_IR 100"], "Dvorák^Antonín"),
])
def test_it_fits_person_names_into_a_charset(name, charsets, expected):
    assert fit_person_name(name, charsets) == expected
    assert fits(expected, charsets)


@pytest.mark.parametrize("configured, expected", [
    ("", ["ISO_IR 6"]), ("ISO_IR 100", ["ISO_IR 100"]),
    ("ISO 2022 IR 6\\ISO 2022 IR 87", ["ISO 2022 IR 6", "ISO 2022 IR 87"]),
    ("\\ISO 2022 IR 87", ["", "ISO 2022 IR 87"]),
])
def test_it_reads_configured_character_sets(configured, expected):
    assert parse_character_set(configured) == expected


def _identifier(top=None, sps=None):
    ds = Dataset()
    for k, v in (top or {}).items():
        setattr(ds, k, v)
    item = Dataset()
    for k, v in (sps or {}).items():
        setattr(item, k, v)
    ds.ScheduledProcedureStepSequence = [item]
    return ds


@pytest.mark.parametrize("top, sps, keywords", [
    ({"PatientName": ""}, {}, ["ScheduledProcedureStepStartDate", "ScheduledProcedureStepStatus", "status"]),
    ({"PatientID": "P1"}, {"Modality": "CT"},
     ["PatientID", "Modality", "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStatus", "status"]),
    ({}, {"ScheduledProcedureStepStatus": "COMPLETED", "ScheduledProcedureStepStartDate": "20260101"},
     ["ScheduledProcedureStepStartDate", "ScheduledProcedureStepStatus"]),
])
def test_it_plans_one_constraint_per_matching_key_and_default(settings, top, sps, keywords):
    settings.BROKER_MWL_DEFAULT_WINDOW_DAYS = 1
    plan = build_plan(_identifier(top, sps), today=date(2026, 5, 1))
    assert [c.keyword.rsplit(">", 1)[-1].rsplit("__", 1)[-1] for c in plan.constraints] == keywords


def test_it_lists_keys_it_cannot_match(settings):
    plan = build_plan(_identifier({"PatientAddress": "MAIN ST", "PatientComments": ""}), today=date(2026, 5, 1))
    assert plan.unsupported == ["PatientAddress"]


@pytest.mark.parametrize("charsets, expected", [
    (["ISO_IR 100"], True), (["ISO_IR 192"], True), ([""], True), (["ISO 2022 IR 6", "ISO 2022 IR 87"], True),
    (["", "ISO 2022 IR 87"], True), (["ISO_IR 999"], False), (["latin1"], False), (["iso_ir 100"], False),
    (["ISO_IR 100", "ISO_IR 192"], False), (["ISO_IR 100", "xe9"], False),
    (["ISO 2022 IR 6", "ISO_IR 192"], False),
])
def test_it_knows_only_defined_terms_spelled_exactly(charsets, expected):
    from worklist.mwl.charset import is_known

    assert is_known(charsets) is expected


def test_its_charset_checks_leave_other_threads_warnings_alone():
    """The checks ran under warnings.catch_warnings(simplefilter("error")), which is process-wide: another
    association's thread then saw its harmless warning raised as an exception (a 0xC000 for a good query)."""
    import threading
    import warnings

    from worklist.mwl.charset import fits, is_known

    stop = threading.Event()
    filters_before = list(warnings.filters)

    def check_charsets():
        n = 0
        while not stop.is_set() and n < 200_000:
            is_known(["ISO_IR 100"]) and is_known(["ISO_IR 999"])
            fits(f"Müller{n}", ["ISO_IR 100"])
            n += 1

    checker = threading.Thread(target=check_charsets)
    checker.start()
    try:
        with warnings.catch_warnings(record=True) as seen:  # this thread's own, as a listener thread's would be
            for n in range(20_000):
                warnings.warn(f"harmless {n}", UserWarning, stacklevel=1)
    finally:
        stop.set()
        checker.join(timeout=30)
    assert len(seen) == 20_000
    assert warnings.filters == filters_before
