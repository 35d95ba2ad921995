"""Why an MPPS request was refused; the DICOM listener maps each class to a status (one table there).

Each error carries a short comment (DICOM Error Comment is LO: 64 characters at most) and the tags at fault,
so the modality's log and the staff's journal row both say which attribute was wrong.
"""
from pydicom.datadict import keyword_for_tag
from pydicom.tag import Tag


def describe_tag(tag) -> str:
    tag = Tag(tag)
    keyword = keyword_for_tag(tag) or "private"
    return f"({tag.group:04X},{tag.element:04X}) {keyword}"


class MppsError(Exception):
    """Base: a request the broker refuses; nothing of it was stored."""

    def __init__(self, comment: str, tags=(), detail: str = ""):
        self.comment = comment[:64].rstrip()  # LO: a trailing space would be stripped on the wire
        self.tags = [Tag(t) for t in tags]
        self.detail = detail or comment
        super().__init__(self.detail)


def _about(what: str, tags, path: str = "") -> tuple[str, str]:
    names = [describe_tag(t) for t in tags]
    where = f" in {path}" if path else ""
    detail = f"{what}{where}: " + ", ".join(names)
    first = names[0] if names else ""
    more = f" +{len(names) - 1}" if len(names) > 1 else ""
    return f"{what} {first}{more}".strip(), detail


class MissingAttribute(MppsError):
    """A Type 1 or Type 2 attribute is absent (PS3.4 Table F.7.2-1)."""

    def __init__(self, tags, path: str = ""):
        comment, detail = _about("Missing", tags, path)
        super().__init__(comment, tags, detail)


class MissingAttributeValue(MppsError):
    """A Type 1 attribute is present but empty."""

    def __init__(self, tags, path: str = ""):
        comment, detail = _about("Empty", tags, path)
        super().__init__(comment, tags, detail)


class UndecodableDataset(MppsError):
    """The data set's bytes cannot be read as DICOM (lengths, VRs, character set): the modality's fault."""

    def __init__(self, reason: str):
        super().__init__(f"data set cannot be decoded: {reason}", (), f"The data set cannot be decoded: {reason}")


class InvalidAttributeValue(MppsError):
    def __init__(self, tag, reason: str):
        name = describe_tag(tag)
        super().__init__(f"{name}: {reason}", [tag], f"Invalid value of {name}: {reason}")


class AttributeNotSettable(MppsError):
    """N-SET of an attribute that Table F.7.2-1 marks 'Not allowed' (patient, scheduling, identity)."""

    def __init__(self, tags):
        comment, detail = _about("Not settable", tags)
        super().__init__(comment, tags, detail + " (may not be changed by N-SET)")


class DuplicateInstance(MppsError):
    def __init__(self, uid: str):
        super().__init__("MPPS SOP Instance already exists", detail=f"MPPS {uid} already exists")


class NoSuchInstance(MppsError):
    def __init__(self, uid: str):
        super().__init__("No such MPPS SOP Instance", detail=f"No MPPS {uid} is known")


class NoLongerUpdatable(MppsError):
    """PS3.4 Table F.7.2-2: the step is COMPLETED or DISCONTINUED (Error ID A710)."""

    ERROR_ID = 0xA710

    def __init__(self, uid: str, status: str):
        super().__init__("Performed Procedure Step Object may no longer be updated",
                         detail=f"MPPS {uid} is {status}; it may no longer be updated")


class NotTheCreator(MppsError):
    """N-SET from another AE than the one that created the step (the listener answers 0x0110 with this comment)."""

    def __init__(self, uid: str, creator: str, caller: str):
        super().__init__(f"MPPS belongs to AE {creator}; {caller} may not update it",
                         detail=f"MPPS {uid} was created by {creator}; N-SET from {caller} refused "
                                "(BROKER_MPPS_ALLOW_OTHER_AE_SET is off)")


class LinkingError(Exception):
    """An operator's link request that cannot be applied (unknown ids, already linked)."""
