"""C-STORE of a job's pending instances: contexts, the stored bytes or a lossless conversion, confirmations.

Each instance goes in its stored transfer syntax, straight from the file (no decode). Only when the
destination accepted no context for it is it converted: uncompressed and deflated syntaxes to
explicit/implicit VR little endian, encapsulated ones decompressed by pydicom where a pixel data
handler is installed (numpy covers RLE Lossless; the JPEG family needs pylibjpeg/Pillow/GDCM).
"""
import time
from collections import OrderedDict

from django.db import transaction
from django.utils import timezone
from pydicom import dcmread
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from broker.core.dicom_net.options import send_stored_files_as_they_are
from broker.core.dicom_roles import ScuRole
from broker.routing.associations import (
    ROUTING_MAX_PDU,
    DeliveryError,
    PermanentDeliveryError,
    application_entity,
    associate,
    sop_class_words,
)
from broker.routing.models import DeliveredInstance, RoutingJob, StoredInstance
from broker.routing.rules import apply_attribute_changes
from broker.routing.storage import instance_path

# Send a file's encoded data set as stored (byte for byte) instead of decoding and re-encoding it.
send_stored_files_as_they_are()

MAX_CONTEXTS = 128  # presentation context IDs are odd numbers 1..255
STORAGE_SCU = ScuRole(
    name="Storage SCU (routing)",
    purpose="Sends each completed study's instances to the routing destinations its rules name (SEND jobs), "
            "one association per batch of at most 128 presentation contexts.",
    sop_classes=(),
    sop_classes_note="every SOP class the broker stored, standard, private or unknown, unchanged",
    transfer_syntaxes=(ExplicitVRLittleEndian, ImplicitVRLittleEndian),
    transfer_syntaxes_note="the instance's stored transfer syntax first (sent byte for byte), then these "
                           "(converted losslessly only when the destination accepted only them); "
                           "with `BROKER_ROUTING_SENDER` dcmtk, or auto with dcmsend installed, explicit VR little "
                           "endian and JPEG-family files go through dcmsend (the file's syntax first, with the "
                           "syntaxes it can convert to in the same context), every other file as above",
    timeout_setting="BROKER_ROUTING_TIMEOUT",
    peers="routing destinations (admin, `manage.py destinations`)",
    maximum_pdu=ROUTING_MAX_PDU,
    tls="per destination, when its TLS settings ask for it (`use_tls`)",
)
FALLBACK_SYNTAXES = STORAGE_SCU.transfer_syntaxes
SUCCESS_STATUSES = {0x0000, 0xB000, 0xB006, 0xB007}  # warnings: the destination kept it


class CannotConvert(Exception):
    pass


def pending_instances(job: RoutingJob):
    """The study's instances this job's destination has not confirmed (and whose file is still here)."""
    return (StoredInstance.objects.filter(study_id=job.study_id, deleted_at__isnull=True)
            .exclude(deliveries__job=job).order_by("id"))


def context_batches(instances: list[StoredInstance]):
    """Split into runs whose contexts fit one association: (sop class, stored syntax) plus fallbacks."""
    batch, contexts = [], OrderedDict()
    for instance in instances:
        wanted = [(instance.sop_class_uid, instance.transfer_syntax_uid)] + [
            (instance.sop_class_uid, str(ts)) for ts in FALLBACK_SYNTAXES]
        new = [c for c in wanted if c not in contexts]
        if len(contexts) + len(new) > MAX_CONTEXTS and batch:
            yield batch, list(contexts)
            batch, contexts = [], OrderedDict()
            new = wanted
        for c in new:
            contexts[c] = True
        batch.append(instance)
    if batch:
        yield batch, list(contexts)


def send_pending(job: RoutingJob) -> None:
    failures, permanent = [], []
    send_instances(job, list(pending_instances(job)), failures, permanent)
    raise_for(failures, permanent)


def send_instances(job: RoutingJob, instances: list[StoredInstance], failures: list, permanent: list) -> None:
    """Send `instances`, each confirmation committed as it comes; refusals are added to the two lists."""
    changes = (job.rule.attribute_changes if job.rule_id else None) or {}
    confirmations = Confirmations(job)
    try:
        _send_batches(job, instances, changes, confirmations, failures, permanent)
    finally:
        confirmations.flush()


def raise_for(failures: list, permanent: list) -> None:
    """The job's error for what the destination refused (retried) or what can never be sent (given up)."""
    if failures:
        raise DeliveryError(f"{len(failures)} instances refused, first: {failures[0]}")
    if permanent:
        raise PermanentDeliveryError(f"{len(permanent)} instances cannot be sent, first: {permanent[0]}")


def _send_batches(job, instances, changes, confirmations, failures, permanent) -> None:
    for batch, contexts in context_batches(instances):
        ae = application_entity()
        for sop_class, syntax in contexts:
            ae.add_requested_context(sop_class, syntax)
        assoc = associate(ae, job.destination)
        try:
            accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
            for instance in batch:
                try:
                    payload, syntax = payload_for(instance, accepted, changes)
                except CannotConvert as exc:
                    permanent.append(f"{instance.sop_instance_uid}: {exc}")
                    continue
                response = assoc.send_c_store(payload)
                status = getattr(response, "Status", None)
                if status is None:
                    raise DeliveryError(f"no C-STORE response for {instance.sop_instance_uid} (timeout or abort)")
                if status in SUCCESS_STATUSES:
                    confirmations.add(instance, syntax)
                else:
                    comment = getattr(response, "ErrorComment", "") or ""
                    failures.append(f"{instance.sop_instance_uid}: status 0x{status:04X} {comment}".strip())
                if not assoc.is_established:
                    raise DeliveryError("the destination closed the association")
        finally:
            if assoc.is_established:
                assoc.release()


class Confirmations:
    """Records destination confirmations durably as they arrive: each one is committed before the next is read.

    A worker killed mid-study therefore re-sends only what the destination had not confirmed, plus at most the
    in-flight window: the instance whose response had arrived but whose row was not yet committed (one, with
    the default batch of 1) and the instance on the wire without a response yet (a destination takes a repeated
    SOP Instance UID as the same instance). The job's progress count, which is also its heartbeat for the
    sweep, is written at most every PROGRESS_SECONDS and always at the end of the run.
    """

    CONFIRM_BATCH = 1
    PROGRESS_SECONDS = 1.0

    def __init__(self, job: RoutingJob, *, batch: int | None = None, seconds: float | None = None):
        self.job = job
        self.batch = batch or self.CONFIRM_BATCH
        self.seconds = seconds or self.PROGRESS_SECONDS
        self.pending: list[DeliveredInstance] = []
        self.last_progress = time.monotonic()

    def add(self, instance: StoredInstance, syntax: str) -> None:
        self.pending.append(DeliveredInstance(job=self.job, instance=instance, transfer_syntax_uid=syntax))
        if len(self.pending) >= self.batch:
            self._write(progress=time.monotonic() - self.last_progress >= self.seconds)

    def flush(self) -> None:
        self._write(progress=True)

    def _write(self, *, progress: bool) -> None:
        if not self.pending and not progress:
            return
        with transaction.atomic():
            if self.pending:
                DeliveredInstance.objects.bulk_create(self.pending, ignore_conflicts=True)
            if progress:
                self.last_progress = time.monotonic()
                RoutingJob.objects.filter(pk=self.job.pk).update(sent=self.job.delivered.count(), updated_at=timezone.now())
        self.pending = []


def payload_for(instance: StoredInstance, accepted: set, changes: dict):
    """What to hand send_c_store, and the syntax it travels in."""
    path = instance_path(instance)
    stored = UID(instance.transfer_syntax_uid)
    if (instance.sop_class_uid, stored) in accepted:
        if not changes:
            return str(path), str(stored)  # byte for byte from the file
        return apply_attribute_changes(dcmread(path), changes), str(stored)
    target = next((ts for ts in FALLBACK_SYNTAXES if (instance.sop_class_uid, ts) in accepted), None)
    if target is None:
        raise CannotConvert(f"the destination accepted no context for SOP class {sop_class_words(instance.sop_class_uid)}")
    return apply_attribute_changes(convert(path, stored, target), changes), str(target)


def convert(path, stored: UID, target: UID):
    """The data set of the file re-encoded in an uncompressed little endian syntax (pixel data lossless)."""
    ds = dcmread(path)
    if not stored.is_little_endian:
        raise CannotConvert(f"conversion from {stored.name} is not supported")
    if stored.is_encapsulated:
        try:
            # Lossless decompression keeps the instance's identity (no new SOP Instance UID).
            ds.decompress(generate_instance_uid=False, as_rgb=False)
        except Exception as exc:
            raise CannotConvert(f"the destination refused {stored.name} and it cannot be decompressed here: {exc}") from exc
    ds.file_meta.TransferSyntaxUID = target
    ds.set_original_encoding(target.is_implicit_VR, True, ds.original_character_set)
    return ds
