"""End to end: an HL7 order sent over MLLP shows up in findscu's worklist; A08 renames it; a cancel removes it.
"""
import subprocess

import pytest

from broker.core.hl7v2.mllp import MLLPClient
from tests.mwl.support import da

pytestmark = pytest.mark.dcmtk

SPS = "ScheduledProcedureStepSequence[0]."


def hl7(*segments: str) -> bytes:
    return "\r".join(segments).encode("utf-8") + b"\r"


def msh(control_id: str, message_type: str, version: str = "2.3.1") -> str:
    return f"MSH|^~\\&|RIS|KLINIKUM|BROKER|RADIOLOGY|{da()}080000||{message_type}|{control_id}|P|{version}||||||UNICODE UTF-8"


PID = "PID|1||4711^^^KLINIKUM^PI||Müller^Jürgen^Karl^^Dr.||19620415|M"


def obr(**numbered: str) -> str:
    """OBR with fields by number: the placer/filler order, procedure, accession (18), RP (19), SPS (20)."""
    fields = {1: "1", 2: "ORD1001^RIS", 3: "FIL1001^BROKER", 4: "CTKOPF^CT Schädel nativ^99KLI",
              18: "ACC1001", 19: "RP1001", 20: "SPS1001", 24: "CT"}
    fields.update({int(k[1:]): v for k, v in numbered.items()})
    return "OBR|" + "|".join(fields.get(n, "") for n in range(1, max(fields) + 1))


def new_order() -> bytes:
    when = f"{da()}100000"
    return hl7(msh("E2E-1", "ORM^O01"), PID, "PV1|1|O|RAD^R12^1^KLINIKUM",
               f"ORC|NW|ORD1001^RIS|FIL1001^BROKER||SC||^^^{when}^^R||{da()}080000", obr(f27=f"^^^{when}^^R"))


def rename() -> bytes:
    return hl7(msh("E2E-2", "ADT^A08^ADT_A01", "2.5"), f"EVN|A08|{da()}090000",
               "PID|1||4711^^^KLINIKUM^PI||Müller-Lüdenscheidt^Jürgen^Karl^^Dr.||19620415|M")


def cancel() -> bytes:
    return hl7(msh("E2E-3", "ORM^O01"), PID, "ORC|CA|ORD1001^RIS|FIL1001^BROKER||CA", obr())


def findscu_patient(port: int) -> str:
    done = subprocess.run(["findscu", "-W", "-v", "-aet", "CT01", "-aec", "BROKER", "-k", "PatientID=4711",
                           "-k", "PatientName", "-k", "AccessionNumber", "-k", "RequestedProcedureID",
                           "-k", f"{SPS}ScheduledProcedureStepID", "-k", f"{SPS}Modality",
                           "-k", f"{SPS}ScheduledProcedureStepStartDate={da()}", "127.0.0.1", str(port)],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr.decode("utf-8", "replace")




def send(port: int, message: bytes) -> bytes:
    with MLLPClient("127.0.0.1", port) as client:
        return client.send(message)


def test_it_offers_an_hl7_order_to_findscu_until_it_is_canceled(listeners):
    hl7_port, dicom_port = listeners
    assert b"MSA|AA" in send(hl7_port, new_order())
    shown = findscu_patient(dicom_port)
    assert "Müller^Jürgen" in shown and "ACC1001" in shown and "RP1001" in shown and "SPS1001" in shown
    assert "(0008,0060) CS [CT]" in shown

    assert b"MSA|AA" in send(hl7_port, rename())
    assert "Müller-Lüdenscheidt^Jürgen" in findscu_patient(dicom_port)

    assert b"MSA|AA" in send(hl7_port, cancel())
    assert "Find Response: 1 (Pending)" not in findscu_patient(dicom_port)
