"""What the broker reads out of an MPPS dataset into model fields; pure, with the department's time zone."""
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from pydicom import Dataset

from mpps.errors import InvalidAttributeValue


@dataclass(frozen=True)
class ScheduledStepKeys:
    """One item of the Scheduled Step Attributes Sequence: the keys that find the worklist entry."""

    study_instance_uid: str = ""
    accession_number: str = ""
    requested_procedure_id: str = ""
    sps_id: str = ""

    @property
    def is_unscheduled(self) -> bool:
        # F.7.2.1.1 unscheduled case: only a (modality generated) Study Instance UID, all else zero length.
        return not (self.accession_number or self.requested_procedure_id or self.sps_id)


def text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword, "")
    return "" if value is None else str(value).strip()


def scheduled_step_keys(dataset: Dataset) -> list[ScheduledStepKeys]:
    return [
        ScheduledStepKeys(text(item, "StudyInstanceUID"), text(item, "AccessionNumber"),
                          text(item, "RequestedProcedureID"), text(item, "ScheduledProcedureStepID"))
        for item in dataset.get("ScheduledStepAttributesSequence") or []
    ]


def parse_da(value: str, keyword: str) -> date:
    value = value.strip().replace(".", "")  # ACR-NEMA style YYYY.MM.DD is still seen
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise InvalidAttributeValue(keyword, f"{value[:16]!r} is not a DA (YYYYMMDD)") from None


def parse_tm(value: str, keyword: str) -> time:
    value = value.strip().replace(":", "")
    whole, _, fraction = value.partition(".")
    if not whole.isdigit() or len(whole) not in (2, 4, 6) or (fraction and not fraction.isdigit()):
        raise InvalidAttributeValue(keyword, f"{value[:16]!r} is not a TM (HHMMSS)")
    try:
        return time(int(whole[0:2]), int(whole[2:4] or 0), min(int(whole[4:6] or 0), 59),
                    int((fraction + "000000")[:6]) if fraction else 0)
    except ValueError:
        raise InvalidAttributeValue(keyword, f"{value[:16]!r} is out of range") from None


def local_datetime(dataset: Dataset, date_keyword: str, time_keyword: str) -> datetime | None:
    """DA + TM read as the department's wall-clock time; None when the date is empty (Type 2)."""
    day = text(dataset, date_keyword)
    if not day:
        return None
    moment = text(dataset, time_keyword)
    clock = parse_tm(moment, time_keyword) if moment else time(0)
    return datetime.combine(parse_da(day, date_keyword), clock, tzinfo=ZoneInfo(settings.BROKER_TIME_ZONE))


def first_code(dataset: Dataset, keyword: str) -> tuple[str, str, str]:
    items = dataset.get(keyword) or []
    if not items:
        return "", "", ""
    item = items[0]
    return text(item, "CodeValue"), text(item, "CodingSchemeDesignator"), text(item, "CodeMeaning")


def step_fields(dataset: Dataset) -> dict:
    """Model fields of PerformedProcedureStep taken from an N-CREATE attribute list."""
    keys = scheduled_step_keys(dataset)
    return {
        "status": text(dataset, "PerformedProcedureStepStatus").upper(),
        "pps_id": text(dataset, "PerformedProcedureStepID")[:16],
        "performed_station_ae_title": text(dataset, "PerformedStationAETitle")[:16],
        "performed_station_name": text(dataset, "PerformedStationName")[:16],
        "performed_location": text(dataset, "PerformedLocation")[:16],
        "modality": text(dataset, "Modality")[:16],
        "description": text(dataset, "PerformedProcedureStepDescription")[:64],
        "reported_patient_id": text(dataset, "PatientID")[:64],
        "reported_patient_name": text(dataset, "PatientName")[:200],
        "study_instance_uid": keys[0].study_instance_uid[:64] if keys else "",
        "accession_number": next((k.accession_number for k in keys if k.accession_number), "")[:16],
        "started_at": local_datetime(dataset, "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime"),
        "ended_at": local_datetime(dataset, "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime"),
    }


def update_fields(modifications: Dataset) -> dict:
    """Model fields changed by an N-SET modification list (only the attributes it carries)."""
    fields = {}
    if "PerformedProcedureStepStatus" in modifications:
        fields["status"] = text(modifications, "PerformedProcedureStepStatus").upper()
    if "PerformedProcedureStepDescription" in modifications:
        fields["description"] = text(modifications, "PerformedProcedureStepDescription")[:64]
    if "PerformedProcedureStepEndDate" in modifications:
        fields["ended_at"] = local_datetime(modifications, "PerformedProcedureStepEndDate",
                                            "PerformedProcedureStepEndTime")
    if "CommentsOnThePerformedProcedureStep" in modifications:
        fields["comments"] = text(modifications, "CommentsOnThePerformedProcedureStep")
    if "PerformedProcedureStepDiscontinuationReasonCodeSequence" in modifications:
        code, scheme, meaning = first_code(modifications, "PerformedProcedureStepDiscontinuationReasonCodeSequence")
        fields["discontinuation_reason_code"] = f"{code}^{scheme}" if scheme else code
        fields["discontinuation_reason_meaning"] = meaning[:64]
    return fields


def _references(item: Dataset, keyword: str) -> list[dict]:
    return [{"sop_class_uid": text(ref, "ReferencedSOPClassUID"), "sop_instance_uid": text(ref, "ReferencedSOPInstanceUID")}
            for ref in item.get(keyword) or []]


def performed_series(dataset: Dataset) -> list[dict] | None:
    """The Performed Series Sequence as rows; None when the dataset does not carry the sequence at all."""
    if "PerformedSeriesSequence" not in dataset:
        return None
    rows = []
    for item in dataset.PerformedSeriesSequence or []:
        images = _references(item, "ReferencedImageSequence")
        others = _references(item, "ReferencedNonImageCompositeSOPInstanceSequence")
        rows.append({
            "series_instance_uid": text(item, "SeriesInstanceUID")[:64],
            "description": text(item, "SeriesDescription")[:64],
            "protocol_name": text(item, "ProtocolName")[:64],
            "retrieve_ae_title": text(item, "RetrieveAETitle")[:16],
            "performing_physician_name": text(item, "PerformingPhysicianName")[:200],
            "operators_name": text(item, "OperatorsName")[:200],
            "referenced_images": images,
            "referenced_non_image_instances": others,
            "image_count": len(images),
            "non_image_count": len(others),
        })
    return rows
