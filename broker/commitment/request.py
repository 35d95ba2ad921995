"""The N-ACTION of a storage commitment request, checked (pure: a data set in, a request or a refusal out).

PS3.4 J.3.2: Action Type ID 1, the well-known SOP Instance, Action Information with Transaction UID (0008,1195)
and Referenced SOP Sequence (0008,1199) of (Referenced SOP Class UID, Referenced SOP Instance UID) items.
The statuses are those PS3.7 10.1.4.1.10 lists for N-ACTION; Missing Attribute (0x0120) and Invalid Attribute
Value (0x0106) are N-CREATE / N-SET statuses, so a missing or bad argument is Invalid Argument Value (0x0115).
"""
import re
from dataclasses import dataclass

from pydicom import Dataset

STORAGE_COMMITMENT_PUSH_MODEL = "1.2.840.10008.1.20.1"
WELL_KNOWN_INSTANCE = "1.2.840.10008.1.20.1.1"
REQUEST_STORAGE_COMMITMENT = 1  # the only Action Type ID of the SOP class

# N-ACTION failure statuses (PS3.7 Annex C, 10.1.4.1.10).
PROCESSING_FAILURE = 0x0110
NO_SUCH_SOP_INSTANCE = 0x0112
INVALID_ARGUMENT_VALUE = 0x0115
NO_SUCH_ACTION = 0x0123
RESOURCE_LIMITATION = 0x0213

# PS3.5 9.1: components of digits without leading zeros, dot-separated, at most 64 characters.
UID_PATTERN = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
UID_LIMIT = 64


class CommitmentRequestError(Exception):
    """Refused: `status` is the N-ACTION failure status, `comment` the Error Comment that names what is wrong."""

    def __init__(self, status: int, comment: str):
        super().__init__(comment)
        self.status = status
        self.comment = comment


@dataclass(frozen=True)
class CommitmentRequest:
    transaction_uid: str
    references: tuple[tuple[str, str], ...]  # (SOP Class UID, SOP Instance UID) in the order received


def is_uid(value: str) -> bool:
    return 0 < len(value) <= UID_LIMIT and UID_PATTERN.fullmatch(value) is not None


def _uid(dataset: Dataset, keyword: str, tag: str, where: str = "") -> str:
    if keyword not in dataset:
        raise CommitmentRequestError(INVALID_ARGUMENT_VALUE, f"{keyword} {tag} missing{where}")
    value = str(dataset[keyword].value or "").strip().rstrip("\0")
    if not value:
        raise CommitmentRequestError(INVALID_ARGUMENT_VALUE, f"{keyword} {tag} empty{where}")
    if not is_uid(value):
        raise CommitmentRequestError(INVALID_ARGUMENT_VALUE, f"{keyword} {tag} is not a UID{where}")
    return value


def read_request(action_type_id, requested_instance_uid: str, action_information: Dataset | None) -> CommitmentRequest:
    """The request, or CommitmentRequestError with the status and comment the modality is answered with.

    `action_information` must be decoded already (the caller turns undecodable bytes into a refusal)."""
    if action_type_id != REQUEST_STORAGE_COMMITMENT:
        raise CommitmentRequestError(NO_SUCH_ACTION, f"No such action: Action Type ID {action_type_id} (only 1)")
    if (requested_instance_uid or "").strip() != WELL_KNOWN_INSTANCE:
        raise CommitmentRequestError(NO_SUCH_SOP_INSTANCE,
                                     f"Requested SOP Instance must be {WELL_KNOWN_INSTANCE}")
    if action_information is None or len(action_information) == 0:
        raise CommitmentRequestError(INVALID_ARGUMENT_VALUE, "Action Information missing")
    transaction_uid = _uid(action_information, "TransactionUID", "(0008,1195)")
    if "ReferencedSOPSequence" not in action_information:
        raise CommitmentRequestError(INVALID_ARGUMENT_VALUE, "ReferencedSOPSequence (0008,1199) missing")
    items = action_information.ReferencedSOPSequence
    if not items:
        raise CommitmentRequestError(INVALID_ARGUMENT_VALUE, "ReferencedSOPSequence (0008,1199) empty")
    references = []
    for number, item in enumerate(items, start=1):
        where = f" in item {number}"
        references.append((_uid(item, "ReferencedSOPClassUID", "(0008,1150)", where),
                           _uid(item, "ReferencedSOPInstanceUID", "(0008,1155)", where)))
    return CommitmentRequest(transaction_uid, tuple(references))
