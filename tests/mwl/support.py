"""Actors for the worklist tests: an in-process listener, a pynetdicom SCU, identifiers built in code."""
from datetime import datetime, timedelta

from django.utils import timezone
from pydicom import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind, Verification

from tests.factories import make_procedure
from tests.waiting import wait_until  # noqa: F401  (re-exported for this area's tests)
from worklist.models import ScheduledProcedureStep

# Every return key of a typical modality query (patient, order, procedure, one SPS item).
COMMON_RETURN_KEYS = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                      "ReferringPhysicianName", "RequestedProcedureID", "RequestedProcedureDescription",
                      "StudyInstanceUID"]
COMMON_SPS_KEYS = ["ScheduledStationAETitle", "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
                   "Modality", "ScheduledPerformingPhysicianName", "ScheduledProcedureStepDescription",
                   "ScheduledProcedureStepID", "ScheduledStationName", "ScheduledProcedureStepLocation"]


def local_today():
    return timezone.localdate()


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    """An aware datetime `days` from today at hour:minute in the department's time zone."""
    day = local_today() + timedelta(days=days)
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


def da(days: int = 0) -> str:
    return (local_today() + timedelta(days=days)).strftime("%Y%m%d")


# ISO 2022 byte strings (PS3.5 6.1.2.5) and the examples of PS3.5 H.3.1 (Japanese) and I.2 (Korean).
ESC = b"\x1b"
TO_JIS, TO_ASCII, TO_ROMAJI, TO_KSC = ESC + b"$B", ESC + b"(B", ESC + b"(J", ESC + b"$)C"

# PS3.5 H.3.1: "Yamada^Tarou=山田^太郎=やまだ^たろう" under "\ISO 2022 IR 87".
JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"
JAPANESE_BYTES = (b"Yamada^Tarou=" + TO_JIS + bytes.fromhex("3b334544") + TO_ASCII + b"^" + TO_JIS
                  + bytes.fromhex("42404f3a") + TO_ASCII + b"=" + TO_JIS + bytes.fromhex("2464245e2440") + TO_ASCII
                  + b"^" + TO_JIS + bytes.fromhex("243f246d2426") + TO_ASCII)
# PS3.5 I.2: "Hong^Gildong=洪^吉洞=홍^길동" under "\ISO 2022 IR 149": G1 is designated again in each component.
KOREAN = "Hong^Gildong=洪^吉洞=홍^길동"
KOREAN_BYTES = (b"Hong^Gildong=" + TO_KSC + bytes.fromhex("fbf3") + b"^" + TO_KSC + bytes.fromhex("d1ced4d7") + b"="
                + TO_KSC + bytes.fromhex("c8ab") + b"^" + TO_KSC + bytes.fromhex("b1e6b5bf"))


# More matches than the listener can stream before a C-CANCEL or abort sent after the first one arrives.
MANY = 10000


def make_many_steps(settings, count: int = MANY) -> None:
    """`count` steps for CT01 today, all of them in one answer (the result cap raised to match)."""
    settings.BROKER_MWL_MAX_RESULTS = count
    procedure = make_procedure()
    ScheduledProcedureStep.objects.bulk_create(
        ScheduledProcedureStep(requested_procedure=procedure, sps_id=f"B{n}", modality="CT", station_ae_title="CT01",
                               start=at(8)) for n in range(count))


def identifier(top: dict | None = None, sps: dict | None = None, *, common: bool = True,
               charset: str | None = None) -> Dataset:
    """A worklist identifier: the common return keys empty, then the given matching keys."""
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    if common:
        for keyword in COMMON_RETURN_KEYS:
            setattr(ds, keyword, "")
    for keyword, value in (top or {}).items():
        setattr(ds, keyword, value)
    item = Dataset()
    if common:
        for keyword in COMMON_SPS_KEYS:
            setattr(item, keyword, "")
    for keyword, value in (sps or {}).items():
        setattr(item, keyword, value)
    ds.ScheduledProcedureStepSequence = [item]
    return ds


def find(port: int, query: Dataset, *, calling_ae: str = "CT01"):
    """Run one C-FIND; returns [(status, identifier or None, status dataset)] in arrival order."""
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    assert assoc.is_established, "association was not accepted"
    answers = []
    try:
        responses = assoc.send_c_find(query, ModalityWorklistInformationFind)
        for status, ds in responses:
            answers.append((status.Status if status else None, ds, status))
    finally:
        assoc.release()
    return answers


def matches(answers) -> list[Dataset]:
    return [ds for status, ds, _ in answers if status in (0xFF00, 0xFF01)]


def final_status(answers) -> int:
    return answers[-1][0]


def echo(port: int, calling_ae: str = "CT01"):
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    try:
        if not assoc.is_established:
            return assoc
        status = assoc.send_c_echo()
        return status.Status if status else None
    finally:
        if assoc.is_established:
            assoc.release()


# A pynetdicom SCU in its own process: it reacts to the first response at once instead of sharing
# the test process's GIL with the listener (which could otherwise finish the whole answer first).
_SCU_SCRIPT = r"""
import json, sys
from pydicom import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind as MWL
port, mode = int(sys.argv[1]), sys.argv[2]
query = Dataset(); query.PatientName = ""; query.ScheduledProcedureStepSequence = [Dataset()]
ae = AE(ae_title="CT01"); ae.add_requested_context(MWL)
assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
statuses = []
for status, _ in assoc.send_c_find(query, MWL):
    statuses.append(status.Status if status else None)
    if len(statuses) == 1 and mode == "cancel":
        assoc.send_c_cancel(1, assoc._get_valid_context(MWL, "", "scu").context_id)
    if len(statuses) == 1 and mode == "abort":
        assoc.abort()
        break
if assoc.is_established:
    assoc.release()
print(json.dumps(statuses))
"""


def find_in_other_process(port: int, mode: str) -> list:
    """C-FIND from a separate process; mode "cancel" sends C-CANCEL, "abort" aborts, after the first response."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _SCU_SCRIPT, str(port), mode], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- identifiers written by hand, byte by byte (Implicit VR Little Endian), sent as they are ---

def raw_element(group: int, element: int, value: bytes, *, length: int | None = None) -> bytes:
    """One Implicit VR Little Endian element; `length` lies about the value's length when given."""
    import struct

    if len(value) % 2 and length is None:
        value += b" "
    return struct.pack("<HHI", group, element, len(value) if length is None else length) + value


def raw_sps_item(*elements: bytes) -> bytes:
    """(0040,0100) Scheduled Procedure Step Sequence with one item holding `elements`."""
    import struct

    item = b"".join(elements)
    return raw_element(0x0040, 0x0100, struct.pack("<HHI", 0xFFFE, 0xE000, len(item)) + item)


def find_raw(port: int, raw: bytes, *, calling_ae: str = "CT01"):
    """Send `raw` as the C-FIND identifier (Implicit VR Little Endian), byte for byte; answers as `find`."""
    from io import BytesIO

    from pydicom.uid import ImplicitVRLittleEndian
    from pynetdicom.dimse_primitives import C_FIND

    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(ModalityWorklistInformationFind, [ImplicitVRLittleEndian])
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    assert assoc.is_established, "association was not accepted"
    try:
        context = assoc._get_valid_context(ModalityWorklistInformationFind, "", "scu")
        request = C_FIND()
        request.MessageID = 1
        request.AffectedSOPClassUID = ModalityWorklistInformationFind
        request.Priority = 2
        request.Identifier = BytesIO(raw)
        # What send_c_find does before sending: hold the reactor so the responses are not read early.
        assoc._reactor_checkpoint.clear()
        wait_until(lambda: assoc._is_paused, timeout=10, interval=0.0001)
        assoc.dimse.send_msg(request, context.context_id)
        responses = assoc._wrap_find_responses(context.transfer_syntax[0], ModalityWorklistInformationFind)
        answers = [(status.Status if status else None, ds, status) for status, ds in responses]
    finally:
        if assoc.is_established:
            assoc.release()
    return answers
