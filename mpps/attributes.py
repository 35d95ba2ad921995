"""PS3.4 Table F.7.2-1 as data, and the checks of an N-CREATE attribute list and an N-SET modification list.

Pure functions over pydicom Datasets: they raise mpps.errors.* and touch no database.
"""
from dataclasses import dataclass, field

from pydicom import Dataset
from pydicom.tag import Tag

from mpps.errors import AttributeNotSettable, InvalidAttributeValue, MissingAttribute, MissingAttributeValue
from worklist.uids import uid_problem

IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"
STATUSES = (IN_PROGRESS, COMPLETED, DISCONTINUED)
FINAL_STATUSES = (COMPLETED, DISCONTINUED)


@dataclass(frozen=True)
class Requirement:
    keyword: str
    type: str  # "1": present with a value; "2": present, may be empty
    tag: Tag = field(init=False, compare=False)

    def __post_init__(self):
        # Looked up once: a 2,000-series N-SET checks these for every item.
        object.__setattr__(self, "tag", Tag(self.keyword))


def _reqs(type1: str, type2: str) -> tuple[Requirement, ...]:
    return tuple(Requirement(k, "1") for k in type1.split()) + tuple(Requirement(k, "2") for k in type2.split())


# N-CREATE, SCU side of Table F.7.2-1 (top level).
CREATE_REQUIREMENTS = _reqs(
    "ScheduledStepAttributesSequence PerformedProcedureStepID PerformedStationAETitle "
    "PerformedProcedureStepStartDate PerformedProcedureStepStartTime PerformedProcedureStepStatus Modality",
    "PatientName PatientID PatientBirthDate PatientSex ReferencedPatientSequence PerformedStationName "
    "PerformedLocation PerformedProcedureStepDescription PerformedProcedureTypeDescription ProcedureCodeSequence "
    "PerformedProcedureStepEndDate PerformedProcedureStepEndTime StudyID PerformedProtocolCodeSequence "
    "PerformedSeriesSequence",
)
# Each item of the Scheduled Step Attributes Sequence.
SCHEDULED_STEP_REQUIREMENTS = _reqs(
    "StudyInstanceUID",
    "ReferencedStudySequence AccessionNumber RequestedProcedureID RequestedProcedureDescription "
    "ScheduledProcedureStepID ScheduledProcedureStepDescription ScheduledProtocolCodeSequence",
)
# Each item of the Performed Series Sequence (N-CREATE and N-SET alike).
SERIES_REQUIREMENTS = _reqs(
    "ProtocolName SeriesInstanceUID",
    "PerformingPhysicianName OperatorsName SeriesDescription RetrieveAETitle ReferencedImageSequence",
)
# Referenced Non-Image Composite SOP Instance Sequence is Type 2 too, but many modalities that make only images
# leave it out; it is checked only when type 2 checking covers series items (see check_series).
SERIES_TYPE2_OFTEN_OMITTED = _reqs("", "ReferencedNonImageCompositeSOPInstanceSequence")
REFERENCED_INSTANCE_REQUIREMENTS = _reqs("ReferencedSOPClassUID ReferencedSOPInstanceUID", "")

# Table F.7.2-1 "Not allowed" in N-SET: who the patient is, what was scheduled, where and when it started.
# The SOP Class/Instance UIDs are the object's identity and are carried by the DIMSE command instead.
NOT_SETTABLE = frozenset(Tag(k) for k in (
    "SOPClassUID SOPInstanceUID ScheduledStepAttributesSequence PatientName PatientID IssuerOfPatientID "
    "IssuerOfPatientIDQualifiersSequence OtherPatientIDsSequence PatientBirthDate PatientSex "
    "ReferencedPatientSequence AdmissionID IssuerOfAdmissionIDSequence ServiceEpisodeID ServiceEpisodeDescription "
    "PerformedProcedureStepID PerformedStationAETitle PerformedStationName PerformedLocation "
    "PerformedProcedureStepStartDate PerformedProcedureStepStartTime Modality StudyID"
).split())

# Required once the step is final (Table F.7.2-1, "Final State" column).
FINAL_REQUIREMENTS = _reqs("PerformedProcedureStepEndDate PerformedProcedureStepEndTime", "")


def _is_empty(dataset: Dataset, tag: Tag) -> bool:
    value = dataset[tag].value
    return value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0)


def check_requirements(dataset: Dataset, requirements, *, type2: bool = True, path: str = "") -> None:
    missing = [r.tag for r in requirements if r.tag not in dataset and (r.type == "1" or type2)]
    if missing:
        raise MissingAttribute(missing, path)
    empty = [r.tag for r in requirements if r.type == "1" and _is_empty(dataset, r.tag)]
    if empty:
        raise MissingAttributeValue(empty, path)


def check_status_value(dataset: Dataset, allowed=STATUSES) -> str:
    status = str(dataset.get("PerformedProcedureStepStatus", "") or "").strip().upper()
    if status not in allowed:
        raise InvalidAttributeValue("PerformedProcedureStepStatus",
                                    f"{status or 'empty'} not in {'/'.join(allowed)}")
    return status


def check_series(dataset: Dataset, *, type2: bool) -> None:
    for index, item in enumerate(dataset.get("PerformedSeriesSequence") or [], start=1):
        path = f"Performed Series item {index}"
        check_requirements(item, SERIES_REQUIREMENTS, type2=type2, path=path)
        for keyword in ("ReferencedImageSequence", "ReferencedNonImageCompositeSOPInstanceSequence"):
            for ref_index, ref in enumerate(item.get(keyword) or [], start=1):
                check_requirements(ref, REFERENCED_INSTANCE_REQUIREMENTS, path=f"{path} {keyword} item {ref_index}")
        check_uid(item, "SeriesInstanceUID")


def check_uid(dataset: Dataset, keyword: str) -> None:
    """An empty value is the requirement checks' business; a present one must be a UID (PS3.5 9.1)."""
    value = str(dataset.get(keyword, "") or "")
    if value:
        problem = uid_problem(value)
        if problem:
            raise InvalidAttributeValue(keyword, f"{value[:20]!r} {problem}")


def _texts(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return []  # binary VRs (OB, OW, UN): kept as base64 in the JSON, no text to check
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value if v is not None]
    return [] if value is None else [str(value)]


def check_text_values(dataset: Dataset) -> None:
    """No NUL byte in any value: PostgreSQL cannot store one in text or JSON, SQLite would keep it silently;
    refused alike on both, as the input error it is (0x0106), not as a database failure (retry)."""
    for elem in dataset:
        if elem.VR == "SQ":
            for item in elem.value or []:
                check_text_values(item)
        elif any("\x00" in text for text in _texts(elem.value)):
            raise InvalidAttributeValue(elem.tag, "has a NUL byte")


def check_create(dataset: Dataset, *, type2: bool = True) -> None:
    """Raise unless `dataset` is an acceptable N-CREATE attribute list (F.7.2.1.2/3)."""
    check_text_values(dataset)
    check_requirements(dataset, CREATE_REQUIREMENTS, type2=type2)
    check_status_value(dataset, allowed=(IN_PROGRESS,))
    for index, item in enumerate(dataset.ScheduledStepAttributesSequence, start=1):
        check_requirements(item, SCHEDULED_STEP_REQUIREMENTS, type2=type2, path=f"Scheduled Step item {index}")
        check_uid(item, "StudyInstanceUID")
    check_series(dataset, type2=type2)


def check_set(modifications: Dataset, *, stored: Dataset, type2: bool = True) -> str:
    """Raise unless `modifications` may be applied to the stored IN PROGRESS step; return the new status."""
    check_text_values(modifications)
    refused = sorted(elem.tag for elem in modifications if elem.tag in NOT_SETTABLE)
    if refused:
        raise AttributeNotSettable(refused)
    status = IN_PROGRESS
    if "PerformedProcedureStepStatus" in modifications:
        status = check_status_value(modifications)
    check_series(modifications, type2=type2)
    if status in FINAL_STATUSES:
        merged = Dataset()
        merged.update(stored)
        merged.update(modifications)
        check_requirements(merged, FINAL_REQUIREMENTS, path=f"a {status} step")
        # A completed step made something; a discontinued one may have stopped before the first series.
        if status == COMPLETED and not merged.get("PerformedSeriesSequence"):
            raise MissingAttributeValue([Tag("PerformedSeriesSequence")], path="a COMPLETED step")
    return status
