"""Scheduled start times from the RIS: the department's zone without an offset, the offset when sent, the spring
DST gap refused (AE with ERR naming the field), the autumn overlap read as its first occurrence (AA with a W ERR),
a date alone kept as a date. The pure mapping as tables, then the same over a real MLLP socket."""
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from broker.core.hl7v2.mllp import MLLPClient
from broker.hl7.models import HL7Message
from tests.hl7.support import error_code, msa, msh, omi, orm, pid, seg, segments_of
from worklist.hl7map import errors, values
from worklist.hl7map.errors import Location
from worklist.models import ScheduledProcedureStep

BERLIN = ZoneInfo("Europe/Berlin")
TQ1_7 = Location("TQ1", 1, 7)


# --- the pure reading of a scheduled start ---------------------------------------------------------------------

@pytest.mark.parametrize("text, utc, date_only", [
    ("20260315093000", datetime(2026, 3, 15, 8, 30, tzinfo=UTC), False),
    ("202603150930", datetime(2026, 3, 15, 8, 30, tzinfo=UTC), False),
    ("20260315093000.5", datetime(2026, 3, 15, 8, 30, 0, 500000, tzinfo=UTC), False),
    ("20260315093000-0500", datetime(2026, 3, 15, 14, 30, tzinfo=UTC), False),
    ("20260329023000+0100", datetime(2026, 3, 29, 1, 30, tzinfo=UTC), False),  # in the gap, but with its offset
    ("20261204", datetime(2026, 12, 3, 23, 0, tzinfo=UTC), True),
])
def test_it_reads_a_scheduled_start(text, utc, date_only):
    start = values.parse_start(text, BERLIN, TQ1_7)
    assert (start.moment, start.date_only, start.warning) == (utc, date_only, None)


@pytest.mark.parametrize("text", ["2026", "202612"])
def test_it_refuses_a_start_without_a_day(text):
    with pytest.raises(errors.BadValue) as caught:
        values.parse_start(text, BERLIN, TQ1_7)
    assert caught.value.location == TQ1_7


@pytest.mark.parametrize("text, zone", [("20260329023000", "Europe/Berlin"), ("202603290200", "Europe/Berlin"),
                                        ("20260308023000", "America/New_York")])
def test_it_refuses_a_start_in_the_spring_gap_saying_what_to_do(text, zone):
    with pytest.raises(errors.NonexistentTime) as caught:
        values.parse_start(text, ZoneInfo(zone), TQ1_7)
    assert caught.value.location == TQ1_7
    assert zone in caught.value.message and "TQ1-7" in caught.value.message
    assert "UTC offset" in caught.value.message and "resend" in caught.value.message


def test_it_reads_an_ambiguous_start_as_the_first_occurrence_with_a_warning():
    start = values.parse_start("20261025023000", BERLIN, TQ1_7)
    assert start.moment == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert start.warning.location == TQ1_7
    assert "first occurrence, 20261025023000+0200" in start.warning.message
    assert "20261025023000+0100" in start.warning.message  # how to send the second one


# --- over a real MLLP socket --------------------------------------------------------------------------------------

def send_one(listener, message: bytes) -> bytes:
    with MLLPClient("127.0.0.1", listener.port, timeout=30) as client:
        return client.send(message)


def steps_of(accession: str):
    return ScheduledProcedureStep.objects.filter(requested_procedure__order__accession_number=accession)


def test_it_refuses_an_omi_in_the_spring_gap_with_an_err_naming_tq1_7(listener):
    ack = send_one(listener, omi(accession="GAP1", start="20260329023000", control_id="GAP-OMI"))
    assert msa(ack)[0] == "AE" and error_code(ack) == "102"
    err = segments_of(ack)["ERR"]  # v2.5.1: ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 what to do
    assert (err[2], err[3].split("^")[0], err[4]) == ("TQ1^1^7", "102", "E")
    assert "does not exist in Europe/Berlin" in err[8] and "20260329023000+0100" in err[8] and "resend" in err[8]
    assert_refused("GAP1", msa(ack)[1], "TQ1-7")


GAP = "20260329023000"


def orm_starting(orc_7="", obr_27="", obr_36="", version="2.3.1") -> bytes:
    """An ORM^O01 NW whose start is in the fields given (TQ in ORC-7 / OBR-27, DTM in OBR-36)."""
    obr = {1: "1", 2: "PL-GAP", 4: "CTHEAD^CT head^99LOCAL", 18: "GAP1", 24: "CT", 27: obr_27, 36: obr_36}
    segments = [msh("ORM^O01", version=version), pid(), seg("PV1", {1: "1", 2: "O"}),
                seg("ORC", {1: "NW", 2: "PL-GAP", 5: "SC", 7: orc_7}), seg("OBR", obr)]
    return ("\r".join(segments) + "\r").encode()


@pytest.mark.parametrize("fields, err_1, where", [
    ({"orc_7": f"^^^{GAP}^^R", "obr_27": f"^^^{GAP}^^R"}, "ORC^1^7", "ORC-7.4"),
    ({"obr_27": f"^^^{GAP}^^R"}, "OBR^1^27", "OBR-27.4"),
    ({"obr_36": GAP}, "OBR^1^36", "OBR-36"),
])
def test_it_refuses_a_v231_order_in_the_spring_gap_naming_the_field(listener, fields, err_1, where):
    ack = send_one(listener, orm_starting(**fields))
    assert msa(ack)[0] == "AE" and error_code(ack) == "102"
    assert segments_of(ack)["ERR"][1].startswith(err_1 + "^102")  # v2.3.1: ERR-1 segment^sequence^field^code
    assert_refused("GAP1", msa(ack)[1], where)


def test_it_names_the_component_in_err_2_from_v25_on(listener):
    ack = send_one(listener, orm_starting(orc_7=f"^^^{GAP}^^R", version="2.5"))
    err = segments_of(ack)["ERR"]
    assert (msa(ack)[0], err[2], err[3].split("^")[0], err[4]) == ("AE", "ORC^1^7^1^4", "102", "E")
    assert_refused("GAP1", msa(ack)[1], "ORC-7.4")


def assert_refused(accession: str, control_id: str, where: str) -> None:
    """Nothing applied, and the row staff see says why and where."""
    assert not steps_of(accession).exists()
    row = HL7Message.objects.get(control_id=control_id)
    assert (row.outcome, row.error_code, row.error_location) == ("AE", "102", where)
    assert "does not exist in Europe/Berlin" in row.error_text


@override_settings(TIME_ZONE="America/New_York")
def test_it_finds_the_gap_in_the_configured_zone(listener):
    ack = send_one(listener, omi(accession="GAP2", start="20260308023000", control_id="GAP-NY"))
    assert msa(ack)[0] == "AE" and "does not exist in America/New_York" in segments_of(ack)["ERR"][8]
    ack = send_one(listener, omi(accession="GAP3", start="20260329023000", control_id="NOGAP-NY"))  # Berlin's gap
    assert msa(ack)[0] == "AA"
    assert steps_of("GAP3").get().start == datetime(2026, 3, 29, 6, 30, tzinfo=UTC)  # 02:30 EDT


def test_it_accepts_an_ambiguous_start_as_its_first_occurrence_and_says_so(listener):
    ack = send_one(listener, omi(accession="AMB1", start="20261025023000", control_id="AMB-1"))
    assert msa(ack)[0] == "AA"
    err = segments_of(ack)["ERR"]
    assert (err[2], err[3].split("^")[0], err[4]) == ("TQ1^1^7", "0", "W")
    assert "first occurrence" in err[8]
    assert steps_of("AMB1").get().start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    row = HL7Message.objects.get(control_id="AMB-1")
    assert (row.outcome, row.error_location) == ("AA", "TQ1-7")
    assert row.error_text.startswith("warning: ") and "happens twice in Europe/Berlin" in row.error_text


def test_it_notes_an_ambiguous_start_in_msa_3_for_a_v231_sender(listener):
    ack = send_one(listener, orm(accession="AMB2", start="20261025023000", control_id="AMB-2"))
    fields = segments_of(ack)
    assert fields["MSA"][1] == "AA" and "first occurrence" in fields["MSA"][3]
    assert "ERR" not in fields  # v2.3.1's ERR has no severity: an ERR there would read as an error
    assert HL7Message.objects.get(control_id="AMB-2").error_text.startswith("warning: ")


def test_it_honours_an_offset_in_the_overlap_without_a_warning(listener):
    ack = send_one(listener, omi(accession="AMB3", start="20261025023000+0100", control_id="AMB-3"))
    assert msa(ack)[0] == "AA" and "ERR" not in segments_of(ack)
    assert steps_of("AMB3").get().start == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # the second 02:30


@pytest.mark.parametrize("message", [
    lambda: omi(accession="DAY1", start="20261204", control_id="DAY-OMI"),
    lambda: orm(accession="DAY1", start="20261204", control_id="DAY-ORM"),
])
def test_it_keeps_a_date_only_start_as_a_date(listener, message):
    ack = send_one(listener, message())
    assert msa(ack)[0] == "AA" and "ERR" not in segments_of(ack)
    step = steps_of("DAY1").get()
    assert step.start_date_only and (step.start_date, step.start_time) == (date(2026, 12, 4), None)
    assert step.start_text() == "2026-12-04" and step.start_text("time") == "date only"


def test_a_later_time_replaces_a_date_only_start(listener):
    send_one(listener, orm(accession="DAY2", placer="PL-DAY2", start="20261204", control_id="DAY2-NW"))
    ack = send_one(listener, orm(control="XO", accession="DAY2", placer="PL-DAY2", start="20261204101500",
                                 control_id="DAY2-XO"))
    assert msa(ack)[0] == "AA"
    step = steps_of("DAY2").get()
    assert not step.start_date_only and step.start == datetime(2026, 12, 4, 9, 15, tzinfo=UTC)


def test_the_ack_carries_its_time_with_the_offset(listener):
    ack = send_one(listener, omi(accession="ACK1", control_id="ACK-1"))
    stamp = segments_of(ack)["MSH"][6]
    assert len(stamp) == 19 and stamp[14] in "+-"
    sent = datetime.strptime(stamp, "%Y%m%d%H%M%S%z")
    assert sent.utcoffset() == datetime.now(BERLIN).utcoffset()
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 60
