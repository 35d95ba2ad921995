"""An order the RIS scheduled for a date without a time, sent over MLLP, answered over a real association by the
pynetdicom SCU and by DCMTK's findscu: the date as sent, and for the Start Time the value PS3.4 Table K.6-1
requires (return key type 1), the start of that day, since no time was sent and none is made up."""
import subprocess

import pydicom
import pytest

from broker.core.hl7v2.mllp import MLLPClient
from tests.hl7.support import msa, omi, orm
from tests.mwl.support import da, find, identifier, matches
from worklist.models import ScheduledProcedureStep
from worklist.mwl.keys import DATE_ONLY_START_TIME

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("dcmtk")]

SPS = "ScheduledProcedureStepSequence"


def place(mllp_port: int, message: bytes) -> None:
    with MLLPClient("127.0.0.1", mllp_port, timeout=30) as client:
        assert msa(client.send(message))[0] == "AA"


@pytest.mark.parametrize("order", [
    lambda day: orm(accession="DAY-ORM", start=day, control_id="DAY-ORM"),
    lambda day: omi(accession="DAY-OMI", start=day, control_id="DAY-OMI",
                    ipcs=[("RP1", "1.2.826.0.1.3680043.9.7.1", "SPS1", "CT", "CT01")]),
])
def test_a_date_only_order_answers_its_date_and_the_start_of_the_day(listeners, tmp_path, order):
    mllp_port, dicom_port = listeners
    place(mllp_port, order(da(1)))
    assert ScheduledProcedureStep.objects.get().start_date_only

    query = identifier(sps={"ScheduledProcedureStepStartDate": da(1)})
    [answer] = matches(find(dicom_port, query))
    item = answer[SPS][0]
    assert (item.ScheduledProcedureStepStartDate, item.ScheduledProcedureStepStartTime) == (da(1),
                                                                                            DATE_ONLY_START_TIME)

    out = tmp_path / "responses"
    out.mkdir()
    done = subprocess.run(["findscu", "-W", "-aet", "CT01", "-aec", "BROKER", "-X", "-od", str(out),
                           "-k", f"{SPS}[0].ScheduledProcedureStepStartDate={da(1)}",
                           "-k", f"{SPS}[0].ScheduledProcedureStepStartTime", "-k", "AccessionNumber",
                           "127.0.0.1", str(dicom_port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [response] = [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]
    item = response[SPS][0]
    assert (item.ScheduledProcedureStepStartDate, item.ScheduledProcedureStepStartTime) == (da(1), "000000")
    assert response.AccessionNumber.startswith("DAY-")


def test_a_date_only_order_is_not_offered_on_another_day(listeners):
    mllp_port, dicom_port = listeners
    place(mllp_port, orm(accession="DAY-X", start=da(2), control_id="DAY-X"))
    assert matches(find(dicom_port, identifier(sps={"ScheduledProcedureStepStartDate": da(1)}))) == []
    assert len(matches(find(dicom_port, identifier(sps={"ScheduledProcedureStepStartDate": da(2)})))) == 1
