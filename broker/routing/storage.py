"""Received instances: the file on disk, byte for byte as sent, and its index rows.

A file is written to a temporary name, fsynced, and renamed into place inside the database
transaction that indexes it; a failure at any step removes the file and rolls back the rows,
so the caller answers a failure status and nothing is left half-indexed.
"""
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from pydicom import Dataset

from broker.routing import auditing, completion
from broker.routing.encoding import encoding_problem
from broker.routing.models import RejectedInstance, StoredInstance, Study
from worklist.models import ImagingOrder, RequestedProcedure
from worklist.uids import uid_problem

log = logging.getLogger(__name__)


class InvalidInstance(ValueError):
    """The data set lacks what the broker needs to index it (the UIDs), or a value it cannot keep."""


class DatasetDoesNotMatch(ValueError):
    """The data set's SOP Class/Instance UID differ from the C-STORE request's."""


def check_request(sop_class_uid: str, sop_instance_uid: str, encoded, transfer_syntax_uid: str) -> None:
    """What must hold before the data set is read: the request's UIDs (PS3.5 9.1), and its bytes encoded in the
    negotiated transfer syntax. `encoded` is a buffer of the data set as received, or None when not at hand."""
    for keyword, value in (("AffectedSOPClassUID", sop_class_uid), ("AffectedSOPInstanceUID", sop_instance_uid)):
        problem = uid_problem(value)
        if problem:
            raise InvalidInstance(f"{keyword} {problem}")
    problem = encoding_problem(encoded, transfer_syntax_uid) if encoded is not None else None
    if problem:
        raise InvalidInstance(problem)


def check_matches_request(facts: "InstanceFacts", sop_class_uid: str, sop_instance_uid: str) -> None:
    if (facts.sop_class_uid, facts.sop_instance_uid) != (sop_class_uid, sop_instance_uid):
        raise DatasetDoesNotMatch(f"data set has {facts.sop_instance_uid}")


def record_refusal(calling_ae: str, sop_class_uid: str, sop_instance_uid: str, status: int, comment: str) -> None:
    """A refused C-STORE as a row staff see; the database may be why it was refused, so failing here is logged."""
    try:
        RejectedInstance.objects.create(calling_ae=calling_ae[:16], sop_class_uid=sop_class_uid[:64],
                                        sop_instance_uid=sop_instance_uid[:64], status=status, error_comment=comment)
    except DatabaseError:
        log.exception("could not record the refused C-STORE")


# The data set's attribute behind each indexed field: the Error Comment names the one at fault.
ATTRIBUTE_OF_FIELD = {
    "study_instance_uid": "StudyInstanceUID", "series_instance_uid": "SeriesInstanceUID",
    "sop_instance_uid": "SOPInstanceUID", "sop_class_uid": "SOPClassUID", "modality": "Modality",
    "patient_id": "PatientID", "patient_name": "PatientName", "accession_number": "AccessionNumber",
    "study_description": "StudyDescription", "station_name": "StationName", "body_part": "BodyPartExamined",
}


@dataclass(frozen=True)
class InstanceFacts:
    """What the index keeps from a received data set."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str = ""
    patient_id: str = ""
    patient_name: str = ""
    accession_number: str = ""
    study_description: str = ""
    station_name: str = ""
    body_part: str = ""
    procedure_codes: tuple[str, ...] = ()

    @classmethod
    def from_dataset(cls, ds: Dataset, *, sop_class_uid: str = "", sop_instance_uid: str = "") -> "InstanceFacts":
        def text(keyword: str) -> str:
            value = ds.get(keyword, "")
            return "" if value is None else str(value).strip()

        uids = {
            "study_instance_uid": text("StudyInstanceUID"),
            "series_instance_uid": text("SeriesInstanceUID"),
            # The request's UIDs stand in only for an absent attribute; a present but empty one is an error.
            "sop_instance_uid": text("SOPInstanceUID") if "SOPInstanceUID" in ds else sop_instance_uid,
            "sop_class_uid": text("SOPClassUID") if "SOPClassUID" in ds else sop_class_uid,
        }
        for name, value in uids.items():
            problem = uid_problem(value)
            if problem == "is empty":
                raise InvalidInstance(f"{ATTRIBUTE_OF_FIELD[name]} is missing or empty")
            if problem:
                raise InvalidInstance(f"{ATTRIBUTE_OF_FIELD[name]} {problem}: {value[:24]!r}")
        codes = []
        for keyword in ("ProcedureCodeSequence", "RequestedProcedureCodeSequence"):
            for item in ds.get(keyword, None) or []:
                code = str(item.get("CodeValue", "") or "").strip()
                if "\x00" in code:
                    raise InvalidInstance(f"{keyword} CodeValue has a NUL byte")
                if code and code not in codes:
                    codes.append(code)
        for name in ("modality", "patient_id", "patient_name", "accession_number", "study_description",
                     "station_name", "body_part"):
            # PostgreSQL cannot store NUL in text and SQLite would keep it silently: refused alike on both.
            if "\x00" in text(ATTRIBUTE_OF_FIELD[name]):
                raise InvalidInstance(f"{ATTRIBUTE_OF_FIELD[name]} has a NUL byte")
        return cls(
            **uids,
            modality=text("Modality")[:16],
            patient_id=text("PatientID")[:64],
            patient_name=text("PatientName")[:200],
            accession_number=text("AccessionNumber")[:16],
            study_description=text("StudyDescription")[:64],
            station_name=text("StationName")[:16],
            body_part=text("BodyPartExamined")[:16],
            procedure_codes=tuple(codes),
        )

    def relative_path(self) -> str:
        return f"{self.study_instance_uid}/{self.series_instance_uid}/{self.sop_instance_uid}.dcm"


@dataclass(frozen=True)
class StoreOutcome:
    instance: StoredInstance
    created: bool  # False: the same SOP Instance UID was stored before; nothing was written


def storage_root() -> Path:
    return Path(settings.BROKER_STORAGE_DIR)


def instance_path(instance: StoredInstance) -> Path:
    return storage_root() / instance.path


def contained_path(root: Path, relative: str) -> Path:
    """root/relative, refused unless it lies strictly inside root (UIDs are checked, this is the second lock)."""
    base = root.resolve()
    candidate = (base / relative).resolve()
    if candidate == base or not candidate.is_relative_to(base) or candidate.parent == base:
        raise InvalidInstance(f"path {relative[:40]!r} would leave the storage folder")
    return candidate


def stored_classes(sop_instance_uids) -> dict[str, str]:
    """SOP Instance UID → SOP Class UID of those instances that are stored and indexed now (their file written and
    fsynced before the index row committed; not yet removed by retention): what a storage commitment may promise."""
    uids = list(dict.fromkeys(sop_instance_uids))
    found: dict[str, str] = {}
    for start in range(0, len(uids), 500):  # bounded IN lists (SQLite's variable limit)
        rows = StoredInstance.objects.filter(sop_instance_uid__in=uids[start:start + 500], deleted_at__isnull=True)
        found.update(rows.values_list("sop_instance_uid", "sop_class_uid"))
    return found


def store_instance(file_bytes: bytes, facts: InstanceFacts, *, transfer_syntax_uid: str, calling_ae: str = "") -> StoreOutcome:
    """Write and index one received instance; raises OSError or DatabaseError if it could not be kept."""
    existing = StoredInstance.objects.filter(sop_instance_uid=facts.sop_instance_uid).first()
    if existing is not None:
        return StoreOutcome(existing, created=False)
    root = storage_root()
    final = contained_path(root, facts.relative_path())
    temporary = _write_temporary(root, file_bytes)
    placed = False
    try:
        with transaction.atomic():
            study = _study_for(facts, calling_ae)
            instance = StoredInstance.objects.create(
                study=study,
                series_instance_uid=facts.series_instance_uid,
                sop_instance_uid=facts.sop_instance_uid,
                sop_class_uid=facts.sop_class_uid,
                transfer_syntax_uid=transfer_syntax_uid,
                modality=facts.modality,
                path=facts.relative_path(),
                size=len(file_bytes),
                calling_ae=calling_ae[:16],
            )
            # The row exists in our transaction only: nobody else can own this path now.
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, final)
            placed = True
            _fsync_directory(final.parent)
            completion.instance_received(study)
    except IntegrityError:
        _remove_quietly(temporary)
        if placed:
            _remove_quietly(final)
        # Another association stored the same instance at the same moment: that copy stands.
        existing = StoredInstance.objects.filter(sop_instance_uid=facts.sop_instance_uid).first()
        if existing is None:
            raise
        return StoreOutcome(existing, created=False)
    except BaseException:
        _remove_quietly(temporary)
        if placed:
            _remove_quietly(final)
        raise
    return StoreOutcome(instance, created=True)


def _study_for(facts: InstanceFacts, calling_ae: str) -> Study:
    now = timezone.now()
    study, created = Study.objects.get_or_create(
        study_instance_uid=facts.study_instance_uid,
        defaults={"last_received_at": now, "calling_ae": calling_ae[:16]},
    )
    # Lock the row: concurrent associations of one study would otherwise lose each other's updates.
    study = Study.objects.select_for_update().get(pk=study.pk)
    for field, value in (("patient_id", facts.patient_id), ("patient_name", facts.patient_name),
                         ("accession_number", facts.accession_number),
                         ("study_description", facts.study_description), ("calling_ae", calling_ae[:16])):
        if value and not getattr(study, field):
            setattr(study, field, value)
    study.modalities = _join(study.modalities, [facts.modality], 64)
    study.station_names = _join(study.station_names, [facts.station_name], 200)
    study.body_parts = _join(study.body_parts, [facts.body_part], 200)
    study.procedure_codes = _join(study.procedure_codes, facts.procedure_codes, 200)
    study.last_received_at = now
    if study.order_id is None:
        study.order = _order_for(facts)
    study.save()
    if created:
        auditing.study_begun(study, calling_ae)
    return study


def _order_for(facts: InstanceFacts):
    procedure = RequestedProcedure.objects.filter(study_instance_uid=facts.study_instance_uid).select_related("order").first()
    if procedure is not None:
        return procedure.order
    if facts.accession_number:
        return ImagingOrder.objects.filter(accession_number=facts.accession_number).order_by("-id").first()
    return None


def _join(current: str, values, limit: int) -> str:
    present = [v for v in current.split("\\") if v]
    for value in values:
        if value and value not in present and len("\\".join(present + [value])) <= limit:
            present.append(value)
    return "\\".join(present)


INCOMING = ".incoming"  # temporary files of C-STOREs in progress; stale ones are removed by housekeeping


def _write_temporary(root: Path, file_bytes: bytes) -> Path:
    incoming = root / INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / f"{uuid.uuid4().hex}.part"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the service account only (issue 9), whatever the umask
    try:
        view = memoryview(file_bytes)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _remove_quietly(path)
        raise
    os.close(fd)
    return path


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        log.exception("could not remove %s", path)
