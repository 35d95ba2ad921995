"""Delivering a routing job: C-STORE the instances a destination has not confirmed, or ask an archive
to C-MOVE the study there. Called by the Celery task; takes a job id, re-reads everything.

Each instance goes in its stored transfer syntax, straight from the file (no decode). Only when the
destination accepted no context for it is it converted: uncompressed and deflated syntaxes to
explicit/implicit VR little endian, encapsulated ones decompressed by pydicom where a pixel data
handler is installed (numpy covers RLE Lossless; JPEG family needs pylibjpeg/Pillow/GDCM).
"""
import logging
import socket
import ssl
import time
from collections import OrderedDict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from pydicom import dcmread
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, _config, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

from broker.routing import jobs
from broker.routing.models import DeliveredInstance, Destination, RoutingJob, RoutingRule, StoredInstance, Study
from broker.routing.rules import apply_attribute_changes
from broker.routing.storage import instance_path

log = logging.getLogger(__name__)

# Send a file's encoded data set as stored (byte for byte) instead of decoding and re-encoding it.
_config.STORE_SEND_CHUNKED_DATASET = True

MAX_CONTEXTS = 128  # presentation context IDs are odd numbers 1..255
FALLBACK_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
SUCCESS_STATUSES = {0x0000, 0xB000, 0xB006, 0xB007}  # warnings: the destination kept it


class DeliveryError(Exception):
    """The job did not finish: retried with backoff up to BROKER_ROUTING_MAX_ATTEMPTS."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (nothing acceptable can be offered): the job waits for an operator."""


class CannotConvert(Exception):
    pass


# --- claiming --------------------------------------------------------------------------------------

def _stale_before(now):
    return now - timedelta(seconds=settings.BROKER_ROUTING_STALE_SECONDS)


def claim(job_id: int) -> RoutingJob | None:
    """Make the job RUNNING for this run; None if another run has it, it is finished, or it must wait."""
    now = timezone.now()
    claimable = Q(state__in=[RoutingJob.State.WAITING, RoutingJob.State.FAILED]) | Q(
        state=RoutingJob.State.RUNNING, updated_at__lt=_stale_before(now))
    with transaction.atomic():
        job = RoutingJob.objects.filter(pk=job_id).filter(claimable).select_related("destination").first()
        if job is None:
            return None
        if job.state == RoutingJob.State.FAILED and job.next_attempt_at and job.next_attempt_at > now + timedelta(seconds=1):
            return None  # an early duplicate; the scheduled retry will come
        # Lock the destination: the association count below must not race another claim.
        destination = Destination.objects.select_for_update().get(pk=job.destination_id)
        busy = RoutingJob.objects.filter(destination=destination, state=RoutingJob.State.RUNNING,
                                         updated_at__gte=_stale_before(now)).exclude(pk=job_id).count()
        if busy >= max(destination.max_associations, 1):
            jobs.enqueue(job_id, countdown=5)
            return None
        won = RoutingJob.objects.filter(pk=job_id).filter(claimable).update(
            state=RoutingJob.State.RUNNING, attempts=F("attempts") + 1, updated_at=now)
        if not won:
            return None
    return RoutingJob.objects.select_related("destination", "study", "rule", "rule__move_source").get(pk=job_id)


# --- the run ---------------------------------------------------------------------------------------

def run_job(job_id: int) -> str:
    """Run one attempt of the job; returns its state afterwards (or 'skipped' if not claimed)."""
    job = claim(job_id)
    if job is None:
        return "skipped"
    try:
        if not job.destination.enabled:
            raise PermanentDeliveryError(f"destination {job.destination.name} is disabled")
        if job.action == RoutingRule.Action.MOVE:
            _move_study(job)
            _finish(job)
        else:
            for _ in range(20):  # late instances may keep arriving while we send
                _send_pending(job)
                if _finish(job):
                    break
    except PermanentDeliveryError as exc:
        _give_up(job, str(exc))
    except Exception as exc:  # DeliveryError, network and association errors alike: retry later
        if not isinstance(exc, DeliveryError):
            log.exception("routing job %s failed unexpectedly", job_id)
        _failed(job, str(exc) or exc.__class__.__name__)
    return RoutingJob.objects.get(pk=job_id).state


def pending_instances(job: RoutingJob):
    return (StoredInstance.objects.filter(study_id=job.study_id, deleted_at__isnull=True)
            .exclude(deliveries__job=job).order_by("id"))


def _finish(job: RoutingJob) -> bool:
    """DONE if nothing is pending; checked under the study lock so a late instance cannot slip between."""
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=job.study_id)
        if job.action == RoutingRule.Action.SEND and pending_instances(job).exists():
            return False
        fields = {"state": RoutingJob.State.DONE, "finished_at": timezone.now(), "last_error": "",
                  "next_attempt_at": None, "updated_at": timezone.now()}
        if job.action == RoutingRule.Action.SEND:
            fields["sent"] = job.delivered.count()
            fields["total"] = StoredInstance.objects.filter(study_id=job.study_id).count()
        RoutingJob.objects.filter(pk=job.pk).update(**fields)
    log.info("routing job %s done: %s to %s", job.pk, job.study, job.destination.name)
    return True


def backoff_seconds(attempts: int) -> float:
    return min(settings.BROKER_ROUTING_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), settings.BROKER_ROUTING_BACKOFF_MAX_SECONDS)


def _failed(job: RoutingJob, error: str) -> None:
    attempts = RoutingJob.objects.get(pk=job.pk).attempts
    if attempts >= settings.BROKER_ROUTING_MAX_ATTEMPTS:
        _give_up(job, f"{error} (after {attempts} attempts)")
        return
    delay = backoff_seconds(attempts)
    with transaction.atomic():
        RoutingJob.objects.filter(pk=job.pk, state=RoutingJob.State.RUNNING).update(
            state=RoutingJob.State.FAILED, last_error=error[:2000], updated_at=timezone.now(),
            next_attempt_at=timezone.now() + timedelta(seconds=delay))
        jobs.enqueue(job.pk, countdown=delay)
    log.warning("routing job %s attempt %s failed, retry in %.0f s: %s", job.pk, attempts, delay, error)


def _give_up(job: RoutingJob, error: str) -> None:
    RoutingJob.objects.filter(pk=job.pk).update(state=RoutingJob.State.GAVE_UP, last_error=error[:2000],
                                                next_attempt_at=None, updated_at=timezone.now())
    log.error("routing job %s gave up, waiting for an operator: %s", job.pk, error)


# --- C-STORE ---------------------------------------------------------------------------------------

def _context_batches(instances: list[StoredInstance]):
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


def _application_entity() -> AE:
    ae = AE(ae_title=settings.BROKER_AE_TITLE)
    ae.acse_timeout = settings.BROKER_ROUTING_TIMEOUT
    ae.dimse_timeout = settings.BROKER_ROUTING_TIMEOUT
    ae.network_timeout = settings.BROKER_ROUTING_TIMEOUT
    ae.maximum_pdu_size = 0  # unlimited on our side; the peer's limit applies to what we send
    return ae


def _tls_args(destination: Destination):
    if not destination.use_tls:
        return None
    context = ssl.create_default_context(cafile=destination.tls_ca_file or None)
    if destination.tls_cert_file:
        context.load_cert_chain(destination.tls_cert_file, destination.tls_key_file or None)
    return context, destination.host


def _no_delay(event) -> None:
    # Each C-STORE request/response turn would otherwise wait ~40 ms for a delayed ACK under Nagle.
    transport = event.assoc.dul.socket
    if transport is not None and transport.socket is not None:
        try:
            transport.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def _associate(ae: AE, destination: Destination):
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title, tls_args=_tls_args(destination),
                         evt_handlers=[(evt.EVT_CONN_OPEN, _no_delay)])
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        result = assoc.acceptor.primitive.result if assoc.acceptor.primitive else None
        kind = "permanently" if result == 1 else "transiently"
        raise DeliveryError(f"{destination.ae_title}@{destination.host}:{destination.port} rejected the association {kind}")
    answer = assoc.acceptor.primitive
    if answer is not None and answer.result == 0x00:
        # Associated, but the peer accepted none of our contexts (pynetdicom then aborts).
        classes = sorted({UID(cx.abstract_syntax).name for cx in ae.requested_contexts})
        raise PermanentDeliveryError(f"the destination accepted no context for SOP class {', '.join(classes)}")
    # pynetdicom reports a refused connection as an abort too.
    raise DeliveryError(f"could not associate with {destination.ae_title}@{destination.host}:{destination.port}"
                        " (connection refused, aborted or timed out)")


def _send_pending(job: RoutingJob) -> None:
    instances = list(pending_instances(job))
    changes = (job.rule.attribute_changes if job.rule_id else None) or {}
    failures, permanent = [], []
    confirmations = Confirmations(job)
    try:
        _send_batches(job, instances, changes, confirmations, failures, permanent)
    finally:
        confirmations.flush()
    if failures:
        raise DeliveryError(f"{len(failures)} instances refused, first: {failures[0]}")
    if permanent:
        raise PermanentDeliveryError(f"{len(permanent)} instances cannot be sent, first: {permanent[0]}")


def _send_batches(job, instances, changes, confirmations, failures, permanent) -> None:
    for batch, contexts in _context_batches(instances):
        ae = _application_entity()
        for sop_class, syntax in contexts:
            ae.add_requested_context(sop_class, syntax)
        assoc = _associate(ae, job.destination)
        try:
            accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
            for instance in batch:
                try:
                    payload, syntax = _payload_for(instance, accepted, changes)
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
    """Records destination confirmations in batches: one insert and one progress update per batch.

    A batch is written every CONFIRM_BATCH instances or CONFIRM_SECONDS, and always before the run ends, so a
    worker killed mid-study re-sends at most one batch of instances the destination already has (a destination
    takes a repeated SOP Instance UID as the same instance); recorded confirmations are never re-sent.
    """

    CONFIRM_BATCH = 25
    CONFIRM_SECONDS = 1.0

    def __init__(self, job: RoutingJob):
        self.job = job
        self.pending: list[DeliveredInstance] = []
        self.last_flush = time.monotonic()

    def add(self, instance: StoredInstance, syntax: str) -> None:
        self.pending.append(DeliveredInstance(job=self.job, instance=instance, transfer_syntax_uid=syntax))
        if len(self.pending) >= self.CONFIRM_BATCH or time.monotonic() - self.last_flush >= self.CONFIRM_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        with transaction.atomic():
            DeliveredInstance.objects.bulk_create(self.pending, ignore_conflicts=True)
            # The progress update is also the job's heartbeat for the sweep.
            RoutingJob.objects.filter(pk=self.job.pk).update(sent=self.job.delivered.count(), updated_at=timezone.now())
        self.pending = []


def _payload_for(instance: StoredInstance, accepted: set, changes: dict):
    """What to hand send_c_store, and the syntax it travels in."""
    path = instance_path(instance)
    stored = UID(instance.transfer_syntax_uid)
    if (instance.sop_class_uid, stored) in accepted:
        if not changes:
            return str(path), str(stored)  # byte for byte from the file
        return apply_attribute_changes(dcmread(path), changes), str(stored)
    target = next((ts for ts in FALLBACK_SYNTAXES if (instance.sop_class_uid, ts) in accepted), None)
    if target is None:
        raise CannotConvert(f"the destination accepted no context for SOP class {UID(instance.sop_class_uid).name}")
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
            raise CannotConvert(f"the destination refused {stored.name} and it cannot be decompressed here: {exc}")
    ds.file_meta.TransferSyntaxUID = target
    ds.set_original_encoding(target.is_implicit_VR, True, ds.original_character_set)
    return ds


# --- C-MOVE ----------------------------------------------------------------------------------------

MOVE_DESTINATION_UNKNOWN = 0xA801


def _move_study(job: RoutingJob) -> None:
    source = job.rule.move_source if job.rule_id else None
    if source is None:
        raise PermanentDeliveryError("the MOVE rule names no archive (move source)")
    ae = _application_entity()
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = _associate(ae, source)
    from pydicom import Dataset

    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = job.study.study_instance_uid
    final = None
    try:
        for status, _ in assoc.send_c_move(identifier, job.destination.ae_title, StudyRootQueryRetrieveInformationModelMove):
            if not status:
                raise DeliveryError(f"no C-MOVE response from {source.ae_title} (timeout or abort)")
            final = status
            completed = int(status.get("NumberOfCompletedSuboperations", 0) or 0) + int(status.get("NumberOfWarningSuboperations", 0) or 0)
            remaining = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
            failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
            RoutingJob.objects.filter(pk=job.pk).update(sent=completed, total=completed + remaining + failed, updated_at=timezone.now())
    finally:
        if assoc.is_established:
            assoc.release()
    code = final.Status if final is not None else None
    if code == 0x0000:
        return
    comment = getattr(final, "ErrorComment", "") if final is not None else ""
    if code == MOVE_DESTINATION_UNKNOWN:
        raise DeliveryError(f"{source.ae_title} does not know the move destination {job.destination.ae_title} (0xA801)")
    raise DeliveryError(f"C-MOVE at {source.ae_title} ended with status 0x{(code or 0):04X} {comment}".strip())
