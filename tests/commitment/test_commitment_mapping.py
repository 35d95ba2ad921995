"""The pure parts of storage commitment: the N-ACTION checked, the outcome decided, the report built (tables)."""
import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence

from broker.commitment import decision
from broker.commitment.request import CommitmentRequestError, read_request

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
WELL_KNOWN = "1.2.840.10008.1.20.1.1"


def info(transaction_uid="1.2.3.9", items=((CT, "1.2.3.1"),), **drop) -> Dataset:
    ds = Dataset()
    if transaction_uid is not None:
        ds.TransactionUID = transaction_uid
    if items is not None:
        sequence = []
        for sop_class, sop_instance in items:
            item = Dataset()
            if sop_class is not None:
                item.ReferencedSOPClassUID = sop_class
            if sop_instance is not None:
                item.ReferencedSOPInstanceUID = sop_instance
            sequence.append(item)
        ds.ReferencedSOPSequence = Sequence(sequence)
    return ds


def test_it_reads_a_well_formed_request():
    request = read_request(1, WELL_KNOWN, info(items=((CT, "1.2.3.1"), (MR, "1.2.3.2"))))

    assert request.transaction_uid == "1.2.3.9"
    assert request.references == ((CT, "1.2.3.1"), (MR, "1.2.3.2"))


REFUSALS = [
    # (action type, requested instance, action information, status, words in the Error Comment)
    (2, WELL_KNOWN, info(), 0x0123, "Action Type ID 2"),
    (None, WELL_KNOWN, info(), 0x0123, "Action Type ID None"),
    (1, "1.2.3.4", info(), 0x0112, WELL_KNOWN),
    (1, WELL_KNOWN, None, 0x0115, "Action Information missing"),
    (1, WELL_KNOWN, Dataset(), 0x0115, "Action Information missing"),
    (1, WELL_KNOWN, info(transaction_uid=None), 0x0115, "TransactionUID (0008,1195) missing"),
    (1, WELL_KNOWN, info(transaction_uid=""), 0x0115, "TransactionUID (0008,1195) empty"),
    (1, WELL_KNOWN, info(transaction_uid="1.02.3"), 0x0115, "TransactionUID (0008,1195) is not a UID"),
    (1, WELL_KNOWN, info(transaction_uid="1." + "2" * 70), 0x0115, "is not a UID"),
    (1, WELL_KNOWN, info(items=None), 0x0115, "ReferencedSOPSequence (0008,1199) missing"),
    (1, WELL_KNOWN, info(items=()), 0x0115, "ReferencedSOPSequence (0008,1199) empty"),
    (1, WELL_KNOWN, info(items=((CT, "1.2.3.1"), (None, "1.2.3.2"))), 0x0115,
     "ReferencedSOPClassUID (0008,1150) missing in item 2"),
    (1, WELL_KNOWN, info(items=((CT, None),)), 0x0115, "ReferencedSOPInstanceUID (0008,1155) missing in item 1"),
    (1, WELL_KNOWN, info(items=((CT, "x.y"),)), 0x0115, "ReferencedSOPInstanceUID (0008,1155) is not a UID in item 1"),
]


@pytest.mark.parametrize(("action_type", "instance", "action_information", "status", "words"), REFUSALS)
def test_it_refuses_a_malformed_request_with_the_precise_status(action_type, instance, action_information, status, words):
    with pytest.raises(CommitmentRequestError) as refused:
        read_request(action_type, instance, action_information)

    assert refused.value.status == status
    assert words in refused.value.comment
    assert len(refused.value.comment) <= 64  # an Error Comment is an LO


DECISIONS = [
    # (references, stored instance → class, duplicate, committed, failed)
    ([(CT, "1"), (MR, "2")], {"1": CT, "2": MR}, False, [(CT, "1"), (MR, "2")], []),
    ([(CT, "1"), (CT, "2")], {"1": CT}, False, [(CT, "1")], [(CT, "2", 0x0112)]),
    ([(MR, "1")], {"1": CT}, False, [], [(MR, "1", 0x0119)]),
    ([("1.2.3.999", "3")], {}, False, [], [("1.2.3.999", "3", 0x0122)]),
    ([(CT, "1"), (CT, "2")], {"1": CT, "2": CT}, True, [], [(CT, "1", 0x0131), (CT, "2", 0x0131)]),
    ([(CT, "1"), (CT, "1")], {"1": CT}, False, [(CT, "1"), (CT, "1")], []),
]


@pytest.mark.parametrize(("references", "stored", "duplicate", "committed", "failed"), DECISIONS)
def test_it_decides_each_instance_from_what_is_stored(references, stored, duplicate, committed, failed):
    outcome = decision.decide(references, stored, supported_classes={CT, MR}, duplicate=duplicate)

    assert (outcome.committed, outcome.failed) == (committed, failed)
    assert outcome.event_type == (2 if failed else 1)


def test_it_reports_all_committed_without_a_failed_sequence():
    report = decision.event_information("1.2.3.9", [(CT, "1")], [])

    assert report.TransactionUID == "1.2.3.9"
    assert [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID) for i in report.ReferencedSOPSequence] == [(CT, "1")]
    assert "FailedSOPSequence" not in report


def test_it_reports_failures_with_their_reason_and_only_the_sequences_that_have_items():
    report = decision.event_information("1.2.3.9", [], [(CT, "2", 0x0112)])

    assert "ReferencedSOPSequence" not in report
    (failed,) = report.FailedSOPSequence
    assert (failed.ReferencedSOPClassUID, failed.ReferencedSOPInstanceUID, failed.FailureReason) == (CT, "2", 0x0112)
