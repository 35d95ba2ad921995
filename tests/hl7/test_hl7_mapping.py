"""HL7 → worklist values, as tables of cases (pure: no database, no sockets)."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from broker.hl7 import parser
from tests.hl7.support import adt, omi, orm, pid, sample, seg
from worklist.hl7map import adt as adt_map
from worklist.hl7map import errors, values
from worklist.hl7map.errors import Location
from worklist.hl7map.orders import map_order_message
from worklist.hl7map.patient import map_patient, map_visit

BERLIN = ZoneInfo("Europe/Berlin")
HERE = Location("TQ1", 1, 7)


def parse(raw: bytes) -> parser.Message:
    return parser.parse(raw)


@pytest.mark.parametrize("text, expected", [
    ("20260315093000", datetime(2026, 3, 15, 9, 30, tzinfo=BERLIN)),
    ("202603150930", datetime(2026, 3, 15, 9, 30, tzinfo=BERLIN)),
    ("20260315", datetime(2026, 3, 15, 0, 0, tzinfo=BERLIN)),
    ("20260315093000.25", datetime(2026, 3, 15, 9, 30, 0, 250000, tzinfo=BERLIN)),
    ("20260315093000+0100", datetime(2026, 3, 15, 8, 30, tzinfo=UTC)),
    ("202603151130-0500", datetime(2026, 3, 15, 16, 30, tzinfo=UTC)),
    ("20260715093000", datetime(2026, 7, 15, 7, 30, tzinfo=UTC)),  # summer time in Berlin: UTC+2
    ("", None),
])
def test_it_reads_hl7_timestamps_in_the_department_zone(text, expected):
    value = values.parse_ts(text, BERLIN, HERE)
    assert value == expected
    if value is not None:
        assert value.utcoffset() is not None


@pytest.mark.parametrize("text", ["2026-03-15", "20261315", "20260230", "2026031509300", "yesterday", "20260315093000+2500"])
def test_it_refuses_a_bad_timestamp_with_its_location(text):
    with pytest.raises(errors.BadValue) as caught:
        values.parse_ts(text, BERLIN, HERE)
    assert caught.value.location == HERE


@pytest.mark.parametrize("text, expected", [
    ("19620415", date(1962, 4, 15)),
    ("196204150830", date(1962, 4, 15)),  # a birth time is dropped
    ("", None),
])
def test_it_reads_birth_dates(text, expected):
    assert values.parse_date(text, Location("PID", 1, 7)) == expected


@pytest.mark.parametrize("components, expected", [
    (["Müller", "Jürgen", "Karl", "", "Dr."], "Müller^Jürgen^Karl^Dr."),
    (["Smith", "John", "", "Jr", "", "MD"], "Smith^John^^^Jr MD"),
    (["Smith", "John", "", "III", "Rev"], "Smith^John^^Rev^III"),
    (["O'Brien", "Siobhán"], "O'Brien^Siobhán"),
    (["DOE"], "DOE"),
    (["Back\\slash", "A=B"], "Back slash^A B"),
    (["X" * 80], "X" * 64),
])
def test_it_maps_xpn_to_dicom_person_names(components, expected):
    assert values.person_name(components) == expected


@pytest.mark.parametrize("code, expected", [
    ("S", "STAT"), ("A", "HIGH"), ("R", "ROUTINE"), ("P", "HIGH"), ("C", "HIGH"), ("T", "MEDIUM"), ("", "ROUTINE"),
    ("Z", "ROUTINE"),
])
def test_it_maps_priorities(code, expected):
    assert values.priority(code) == expected


@pytest.mark.parametrize("pid_fields, field, expected", [
    ({5: "Gärtner^Sören"}, "name", "Gärtner^Sören"),
    ({5: "Łukasiewicz^Zoë^^^^^L~ウカシェヴィチ^ゾエ^^^^^L^I"}, "name", "Łukasiewicz^Zoë=ウカシェヴィチ^ゾエ"),
    ({5: "Smith\\S\\Jones^Ann"}, "name", "Smith^Jones^Ann"),  # an escaped component separator inside a value
    ({8: "M"}, "sex", "M"), ({8: "F"}, "sex", "F"), ({8: "A"}, "sex", "O"), ({8: "U"}, "sex", ""), ({8: ""}, "sex", ""),
    ({7: "19620415"}, "birth_date", date(1962, 4, 15)),
    ({3: "4711^^^KLINIKUM&1.2.3&ISO^PI"}, "issuer_universal_id", "1.2.3"),
    ({3: "4711^^^KLINIKUM&1.2.3&ISO^PI"}, "issuer_universal_id_type", "ISO"),
    ({3: "4711^^^KLINIKUM^PI~990011^^^AOK^SS"}, "other_patient_ids",
     [{"patient_id": "990011", "issuer": "AOK", "type": "SS"}]),
    ({3: "", 2: "OLD-77"}, "patient_id", "OLD-77"),  # v2.3 senders with the ID in PID-2 only
])
def test_it_maps_pid_fields(pid_fields, field, expected):
    fields = {1: "1", 3: "4711^^^KLINIKUM^PI", 5: "DOE^JANE", 8: "F"}
    fields.update(pid_fields)
    message = parse(orm(patient=seg("PID", fields)))
    assert getattr(map_patient(message), field) == expected


def test_it_picks_the_patient_id_of_the_configured_issuer():
    message = parse(orm(patient=seg("PID", {3: "990011^^^AOK^SS~4711^^^KLINIKUM^PI", 5: "DOE"})))
    patient = map_patient(message, preferred_issuer="KLINIKUM")
    assert (patient.patient_id, patient.issuer_of_patient_id) == ("4711", "KLINIKUM")


@pytest.mark.parametrize("pid_fields, error, location", [
    ({3: ""}, errors.RequiredFieldMissing, "PID-3"),
    ({8: "X"}, errors.UnknownCode, "PID-8"),
    ({7: "19621315"}, errors.BadValue, "PID-7"),
    ({3: "P" * 65 + "^^^HOSP"}, errors.ValueTooLong, "PID-3"),
])
def test_it_refuses_bad_patient_fields(pid_fields, error, location):
    fields = {1: "1", 3: "4711^^^KLINIKUM^PI", 5: "DOE^JANE", 8: "F"}
    fields.update(pid_fields)
    with pytest.raises(error) as caught:
        map_patient(parse(orm(patient=seg("PID", fields))))
    assert str(caught.value.location) == location


def test_it_maps_the_visit_and_referring_physician():
    visit = map_visit(parse(sample("orm_o01_v231_nw_utf8.hl7")))
    assert visit.referring_physician_name == "Weiß^Anna^^Dr."
    assert visit.admission_id == "V556677"
    assert visit.current_patient_location == "RAD R12 1"


def test_it_reads_weight_and_height_from_obx():
    patient = map_patient(parse(sample("orm_o01_v24_nw.hl7")))
    assert (patient.weight_kg, patient.size_m) == (Decimal("72.50"), Decimal("1.68"))


# One row per (sample, path into the mapped order, expected value).
ORDER_CASES = [
    ("orm_o01_v231_nw_utf8.hl7", "order_control", "NW"),
    ("orm_o01_v231_nw_utf8.hl7", "placer_order_number", "ORD1001"),
    ("orm_o01_v231_nw_utf8.hl7", "placer_issuer", "AGFA_RIS"),
    ("orm_o01_v231_nw_utf8.hl7", "filler_order_number", "FIL1001"),
    ("orm_o01_v231_nw_utf8.hl7", "accession_number", "ACC1001"),
    ("orm_o01_v231_nw_utf8.hl7", "priority", "ROUTINE"),
    ("orm_o01_v231_nw_utf8.hl7", "requesting_physician_name", "Weiß^Anna^^Dr."),
    ("orm_o01_v231_nw_utf8.hl7", "reason_for_procedure", "Kopfschmerz seit 3 Tagen"),
    ("orm_o01_v231_nw_utf8.hl7", "medical_alerts", "Kontrastmittelallergie"),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.requested_procedure_id", "RP1001"),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.study_instance_uid", "1.2.826.0.1.3680043.10.1455.777.1"),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.code_value", "CTKOPF"),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.code_scheme", "99KLI"),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.description", "CT Schädel nativ"),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.steps.0.sps_id", "SPS1001"),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.steps.0.modality", "CT"),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.steps.0.start", datetime(2026, 3, 15, 8, 30, tzinfo=UTC)),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.steps.0.description", "CT head routine"),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.steps.0.protocol_codes",
     [{"value": "CTHEAD", "scheme": "99PROT", "meaning": "CT head routine"}]),
    ("orm_o01_v231_nw_utf8.hl7", "procedures.0.steps.0.performing_physician_name", "Kühn^Lena"),
    ("orm_o01_v231_nw_latin1.hl7", "priority", "STAT"),
    ("orm_o01_v231_nw_latin1.hl7", "procedures.0.study_instance_uid", ""),  # none sent: generated when applied
    ("orm_o01_v231_nw_latin1.hl7", "procedures.0.steps.0.modality", "MR"),
    ("orm_o01_v24_nw.hl7", "priority", "HIGH"),
    ("orm_o01_v24_nw.hl7", "procedures.0.steps.0.start", datetime(2026, 3, 15, 16, 30, tzinfo=UTC)),
    ("orm_o01_v24_nw.hl7", "procedures.0.comments", "Patient in wheelchair"),
    ("orm_o01_v24_sc_ip.hl7", "order_status", "IP"),
    ("orm_o01_v24_dc.hl7", "order_control", "DC"),
    ("orm_o01_v231_ca.hl7", "order_control", "CA"),
    ("omi_o23_v251_nw_multi.hl7", "accession_number", "UKACC4401"),
    ("omi_o23_v251_nw_multi.hl7", "accession_issuer", "UNIKLINIK"),
    ("omi_o23_v251_nw_multi.hl7", "procedures.0.requested_procedure_id", "RP4401A"),
    ("omi_o23_v251_nw_multi.hl7", "procedures.0.steps.1.sps_id", "SPS4401A2"),
    ("omi_o23_v251_nw_multi.hl7", "procedures.0.steps.1.station_ae_title", "PETCT1"),
    ("omi_o23_v251_nw_multi.hl7", "procedures.0.steps.1.location", "NUKRAUM1"),
    ("omi_o23_v251_nw_multi.hl7", "procedures.1.study_instance_uid", "1.2.276.0.7230010.3.1.4.4401.2"),
    ("omi_o23_v251_nw_multi.hl7", "procedures.1.steps.0.station_name", "CT2"),
    ("omi_o23_v251_nw_multi.hl7", "procedures.1.steps.0.start", datetime(2026, 3, 17, 7, 0, tzinfo=UTC)),
]


def _path(value, path: str):
    for part in path.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return value


@pytest.mark.parametrize("name, path, expected", ORDER_CASES)
def test_it_maps_order_fields(name, path, expected):
    mapped = map_order_message(parse(sample(name)), BERLIN)
    assert _path(mapped.orders[0], path) == expected


def test_it_groups_ipc_segments_into_procedures_and_steps():
    mapped = map_order_message(parse(sample("omi_o23_v251_nw_multi.hl7")), BERLIN)
    shape = [(p.requested_procedure_id, [s.sps_id for s in p.steps]) for p in mapped.orders[0].procedures]
    assert shape == [("RP4401A", ["SPS4401A1", "SPS4401A2"]), ("RP4401B", ["SPS4401B1"])]


def test_it_makes_one_order_of_several_orc_obr_pairs_with_one_placer_number():
    raw = orm(rp_id="RP1", sps_id="S1").decode() + seg("ORC", {1: "NW", 2: "PL0001"}) + "\r" + seg(
        "OBR", {1: "2", 2: "PL0001", 4: "CTABD^CT abdomen^99LOCAL", 18: "ACC0001", 19: "RP2", 20: "S2", 24: "CT"}) + "\r"
    mapped = map_order_message(parse(raw.encode()), BERLIN)
    assert len(mapped.orders) == 1
    assert [p.requested_procedure_id for p in mapped.orders[0].procedures] == ["RP1", "RP2"]


@pytest.mark.parametrize("raw, error, location", [
    (orm(accession=""), errors.RequiredFieldMissing, "OBR-18"),
    (orm(accession="A" * 17), errors.ValueTooLong, "OBR-18"),
    (orm(control=""), errors.RequiredFieldMissing, "ORC-1"),
    (orm(control="ZZ"), errors.UnknownCode, "ORC-1"),
    (orm(control="SC", status="XY"), errors.UnknownCode, "ORC-5"),
    (orm(placer=""), errors.RequiredFieldMissing, "ORC-2"),
    (orm(start="2026-03-15"), errors.BadValue, "ORC-7.4"),
    (orm(zds="not.a.uid!"), errors.BadValue, "ZDS-1"),
    (orm(zds="1..2.3"), errors.BadValue, "ZDS-1"),  # the one UID rule (worklist.uids): empty component
    (orm(zds="1.02.003"), errors.BadValue, "ZDS-1"),  # leading zeros
    (orm(zds="1.2.3."), errors.BadValue, "ZDS-1"),
    (orm(zds="12345"), errors.BadValue, "ZDS-1"),  # a single component
    (orm(zds="1." + "2" * 64), errors.ValueTooLong, "ZDS-1"),
    (omi(ipcs=[("RP1", "1.2.03", "SPS1", "CT", "CT01")]), errors.BadValue, "IPC-3"),
    (orm(patient=pid(patient_id="~".join(f"ID{i}^^^H" for i in range(101)))), errors.ValueTooLong, "PID-3"),
    (orm(rp_id="R" * 17), errors.ValueTooLong, "OBR-19"),
    (omi(ipcs=[("RP1", "1.2.3", "SPS1", "CT", "A" * 17)]), errors.ValueTooLong, "IPC-9"),
    (omi(start="tomorrow"), errors.BadValue, "TQ1-7"),
])
def test_it_refuses_orders_that_cannot_be_applied(raw, error, location):
    with pytest.raises(error) as caught:
        map_order_message(parse(raw), BERLIN)
    assert str(caught.value.location) == location


def test_it_refuses_an_order_without_pid():
    raw = b"\r".join(line for line in orm().split(b"\r") if not line.startswith(b"PID"))
    with pytest.raises(errors.SegmentSequenceError):
        map_order_message(parse(raw), BERLIN)


def test_it_maps_a_merge():
    merge = adt_map.map_patient_merge(parse(sample("adt_a40.hl7")))
    assert (merge.surviving.patient_id, merge.prior) == ("4711", [("4713", "KLINIKUM")])


def test_it_refuses_a_merge_without_prior_id():
    with pytest.raises(errors.RequiredFieldMissing) as caught:
        adt_map.map_patient_merge(parse(adt("A40", mrg="^^^HOSP")))
    assert str(caught.value.location) == "MRG-1"


def test_it_maps_a_patient_update():
    update = adt_map.map_patient_update(parse(sample("adt_a08.hl7")), "A08")
    assert (update.patient.name, update.patient.birth_date) == ("Müller-Lüdenscheidt^Jürgen^Karl^Dr.",
                                                                date(1962, 4, 16))
    assert update.visit.current_patient_location == "STAT3 301 1"


def test_it_treats_an_ambiguous_autumn_time_as_its_first_occurrence():
    value = values.parse_ts("20261025023000", BERLIN, HERE)
    assert value.utcoffset() == timedelta(hours=2)

