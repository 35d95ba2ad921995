"""Which referenced instances the broker commits to, and the report that says so (pure: no database, no network).

PS3.4 J.3.3.1: Event Type ID 1 when every instance is committed (Referenced SOP Sequence), 2 when failures exist
(Failed SOP Sequence with a Failure Reason per instance, and the committed ones in Referenced SOP Sequence).
Every instance of the request appears in the report, once.
"""
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.sequence import Sequence

ALL_COMMITTED = 1
FAILURES_EXIST = 2

# Failure Reason (0008,1197), PS3.4 J.3.3.1.1 (the codes of PS3.7 Annex C).
PROCESSING_FAILURE = 0x0110
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119
REFERENCED_SOP_CLASS_NOT_SUPPORTED = 0x0122
DUPLICATE_TRANSACTION_UID = 0x0131

REASONS = {
    PROCESSING_FAILURE: "processing failure",
    NO_SUCH_OBJECT_INSTANCE: "no such object instance",
    CLASS_INSTANCE_CONFLICT: "stored with another SOP class",
    REFERENCED_SOP_CLASS_NOT_SUPPORTED: "SOP class not supported",
    DUPLICATE_TRANSACTION_UID: "duplicate Transaction UID",
}


@dataclass(frozen=True)
class Decision:
    committed: list[tuple[str, str]]
    failed: list[tuple[str, str, int]]

    @property
    def event_type(self) -> int:
        return FAILURES_EXIST if self.failed else ALL_COMMITTED


def decide(references, stored: dict[str, str], *, supported_classes=frozenset(), duplicate: bool = False) -> Decision:
    """`stored`: SOP Instance UID → SOP Class UID of what is durably stored and indexed (files not removed).

    `supported_classes`: the storage SOP classes the broker accepts; an unknown one that is not stored is
    0x0122. A repeated Transaction UID fails every instance with 0x0131. A request listing one instance twice
    is answered for each listing."""
    committed, failed = [], []
    for sop_class, sop_instance in references:
        if duplicate:
            failed.append((sop_class, sop_instance, DUPLICATE_TRANSACTION_UID))
        elif sop_instance not in stored:
            reason = NO_SUCH_OBJECT_INSTANCE if not supported_classes or sop_class in supported_classes \
                else REFERENCED_SOP_CLASS_NOT_SUPPORTED
            failed.append((sop_class, sop_instance, reason))
        elif stored[sop_instance] != sop_class:
            failed.append((sop_class, sop_instance, CLASS_INSTANCE_CONFLICT))
        else:
            committed.append((sop_class, sop_instance))
    return Decision(committed, failed)


def _item(sop_class: str, sop_instance: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item


def event_information(transaction_uid: str, committed, failed) -> Dataset:
    """The N-EVENT-REPORT's Event Information (PS3.4 Table J.3-2): the sequences only when they have items
    (Type 1C)."""
    info = Dataset()
    info.TransactionUID = transaction_uid
    if committed:
        info.ReferencedSOPSequence = Sequence([_item(c, i) for c, i in committed])
    if failed:
        items = []
        for sop_class, sop_instance, reason in failed:
            item = _item(sop_class, sop_instance)
            item.FailureReason = reason
            items.append(item)
        info.FailedSOPSequence = Sequence(items)
    return info


def summary(committed, failed) -> str:
    """For staff: "3 committed, 1 failed (0x0112 no such object instance)"."""
    text = f"{len(committed)} committed"
    if failed:
        reasons = sorted({reason for *_, reason in failed})
        text += f", {len(failed)} failed (" + ", ".join(f"0x{r:04X} {REASONS.get(r, '')}".strip() for r in reasons) + ")"
    return text
