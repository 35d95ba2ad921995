"""Storage commitment reports (N-EVENT-REPORT, PS3.4 J.3.3) sent to the modality, durably.

The listener tries the association the N-ACTION came on while the modality keeps it open (`report_on_association`,
in a thread of its own once the N-ACTION response is out). Otherwise, or when that fails, the worker's task
(`deliver`) opens a new association to the modality's registered address (RemoteAE host and port), proposing the
Storage Commitment Push Model with the SCP role (SCP/SCU Role Selection, PS3.7 D.3.3.4; PS3.4 J.3.3.1.3 note):
the modality takes reports there as the SCU of the SOP class. The row is claimed through the one work queue
(broker.core.work_queue), so exactly one of them sends it, and a failed try is retried with a backoff.
"""
import logging
import threading
import time

from celery import signature
from django.conf import settings
from django.db import close_old_connections
from pynetdicom.sop_class import StorageCommitmentPushModel

from broker.commitment import services
from broker.commitment.models import COMMITMENT_REPORTS, StorageCommitment
from broker.commitment.request import WELL_KNOWN_INSTANCE
from broker.core import identity
from broker.core.dicom_net.association import is_connected, keep_responses_for_the_sender, release_requested
from broker.core.dicom_roles import UNCOMPRESSED_SYNTAXES, ScuRole
from broker.core.work_queue import Outcome
from broker.dicom import db_work
from broker.dicom.error_comment import error_comment
from broker.dicom.models import RemoteAE
from broker.outbound import tls

log = logging.getLogger(__name__)

# Named, not imported: broker.dicom.tasks imports this module.
REPORT_TASK = "broker.dicom.tasks.report_commitment"
# How often a waiting report looks again for the instances still arriving.
POLL_SECONDS = 0.25
# The broker (SCP of the SOP class) asks for the SCP role on its own association: SCU role 0, SCP role 1.
COMMITMENT_REPORT_SCU = ScuRole(
    name="Storage Commitment Push Model, SCP role on a new association (commitment reports)",
    purpose="Sends an N-EVENT-REPORT the modality could not take on the association of its N-ACTION, on a new "
            "association to the modality's registered address, durably queued and retried.",
    sop_classes=(StorageCommitmentPushModel,),
    transfer_syntaxes=UNCOMPRESSED_SYNTAXES,
    scp_role=True,
    timeout_setting="BROKER_COMMITMENT_DICOM_TIMEOUT",
    peers="the remote AE registry: the requesting modality's host and port (admin, Remote AEs)",
    tls="per remote AE, when its registry entry's TLS settings ask for it (`use_tls`)",
)


def enqueue(pk: int, countdown: float | None = None) -> None:
    """Hand the report to the worker; a lost message is found by the sweep (the row stays pending)."""
    try:
        signature(REPORT_TASK, args=(pk,)).apply_async(countdown=countdown)
    except Exception:  # the message transport is down: the row is safe, the sweep re-enqueues it
        log.exception("could not enqueue storage commitment report %s; the sweep will retry", pk)


def _answer(status) -> tuple[str, dict]:
    """(error, fields) from the modality's N-EVENT-REPORT response: "" when it took the report."""
    if "Status" not in status:
        return "no response to the N-EVENT-REPORT (timeout or abort)", {}
    code = int(status.Status)
    comment = str(status.get("ErrorComment", "") or "")
    fields = {"response_status": code, "response_comment": comment[:200]}
    if code == 0x0000 or 0xB000 <= code <= 0xBFFF:
        return "", fields
    return f"modality answered the N-EVENT-REPORT with 0x{code:04X} {comment}".strip(), fields


def send_on(assoc, row: StorageCommitment) -> tuple[str, dict]:
    """Send the decided report on an established association; (error, fields) as the work queue wants them."""
    event_type, info = services.event_information(row)
    status, _ = assoc.send_n_event_report(info, event_type, StorageCommitmentPushModel, WELL_KNOWN_INSTANCE)
    return _answer(status)


# --- on the requesting association (the listener) ---------------------------------------------------------

_reporters = threading.BoundedSemaphore(1)  # replaced by start_reporter's first call with the configured size
_reporters_lock = threading.Lock()
_reporters_size = 0
_running: set[threading.Thread] = set()
_stopping = threading.Event()  # the listener shuts down: waiting reports go to the worker


def _slots() -> threading.BoundedSemaphore:
    global _reporters, _reporters_size
    with _reporters_lock:
        if _reporters_size != settings.BROKER_COMMITMENT_LISTENER_REPORTERS:
            _reporters_size = settings.BROKER_COMMITMENT_LISTENER_REPORTERS
            _reporters = threading.BoundedSemaphore(max(_reporters_size, 1))
        return _reporters


def start_reporter(assoc, pk: int) -> None:
    """Report on `assoc` from a thread of its own (it must not block the association, whose N-ACTION response
    goes first); beyond BROKER_COMMITMENT_LISTENER_REPORTERS waiting reports the worker sends it."""
    slots = _slots()
    if _stopping.is_set() or settings.BROKER_COMMITMENT_LISTENER_REPORTERS <= 0 or not slots.acquire(blocking=False):
        enqueue(pk, countdown=settings.BROKER_COMMITMENT_WAIT_SECONDS)
        return
    keep_responses_for_the_sender(assoc)  # installed here, in the association's own thread

    def run():
        try:
            report_on_association(assoc, pk)
        except Exception:
            log.exception("storage commitment report %s: the listener's attempt failed; the worker will send it", pk)
            enqueue(pk)
        finally:
            slots.release()
            with _reporters_lock:
                _running.discard(threading.current_thread())

    thread = threading.Thread(target=run, name=f"commitment-report-{pk}", daemon=True)
    with _reporters_lock:
        _running.add(thread)
    thread.start()


def stop_reporters(timeout: float = 5.0) -> None:
    """Listener shutdown: reports still waiting go to the worker (their rows stay pending); wait for the threads
    (a report being sent ends with its association) before the database threads close."""
    _stopping.set()
    deadline = time.monotonic() + timeout
    with _reporters_lock:
        threads = list(_running)
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    _stopping.clear()  # a listener started again in this process (tests) reports again


def _claim_and_decide(pk: int) -> StorageCommitment | None:
    row = COMMITMENT_REPORTS.claim(pk)
    return services.decide(row) if row is not None else None


def _record(row: StorageCommitment, error: str, fields: dict) -> Outcome:
    if not error:
        COMMITMENT_REPORTS.finish(row, last_error="", reported_via=StorageCommitment.Route.SAME, **fields)
        return Outcome(row=row, sent=True)
    return Outcome(row=row, retry_in=COMMITMENT_REPORTS.fail(row, error, **fields), error=error)


def _open(assoc) -> bool:
    return is_connected(assoc) and not release_requested(assoc)


def report_on_association(assoc, pk: int) -> None:
    """Wait while instances are still arriving (BROKER_COMMITMENT_WAIT_SECONDS at most), then send the report on
    the association if the modality still has it open; else, or when that fails, hand it to the worker.

    It waits at least BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS: most modalities release right after the
    N-ACTION response, and a report sent into their release would hold the association until the DIMSE timeout."""
    start = time.monotonic()
    hold_until = start + settings.BROKER_COMMITMENT_SAME_ASSOCIATION_HOLD_SECONDS
    deadline = start + settings.BROKER_COMMITMENT_WAIT_SECONDS + 5  # bounded whatever the clock does
    while time.monotonic() < deadline:
        left = db_work.run(services.seconds_until_ready, pk)
        holding = hold_until - time.monotonic()
        if left <= 0 and holding <= 0:
            break
        if not _open(assoc):
            log.info("storage commitment report %s: the modality closed the association; the worker reports on "
                     "a new association", pk)
            enqueue(pk, countdown=left if left > 0 else None)
            return
        if _stopping.wait(min(POLL_SECONDS, max(left, holding, 0.01))):
            log.info("storage commitment report %s: the listener stops; the worker sends it", pk)
            enqueue(pk, countdown=left if left > 0 else None)
            return
    if not _open(assoc):
        enqueue(pk)
        return
    row = db_work.run(_claim_and_decide, pk)
    if row is None:
        return  # sent already, or the worker has it
    try:
        error, fields = send_on(assoc, row)
    except Exception as exc:  # the association went away under us: retried on a new one
        error, fields = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, {}
    outcome = db_work.run(_record, row, error, fields)
    if outcome.sent:
        log.info("storage commitment %s reported to %s on the requesting association (event %s)",
                 row.transaction_uid, row.calling_ae, row.event_type)
    else:
        log.warning("storage commitment %s: report on the requesting association failed: %s; %s",
                    row.transaction_uid, error, "the worker retries on a new association"
                    if outcome.retry_in is not None else "not retried")
        if outcome.retry_in is not None:
            enqueue(pk, countdown=outcome.retry_in)


# --- on a new association (the worker) ----------------------------------------------------------------------

class NoAddress(Exception):
    """The modality has no registered host and port to report to."""


def modality_address(calling_ae: str) -> RemoteAE:
    """The modality's RemoteAE row (AE title, host, port, TLS); NoAddress names what staff must fill in."""
    remote = RemoteAE.objects.filter(ae_title=calling_ae).first()
    if remote is None or not remote.host or not remote.port:
        raise NoAddress(f"remote AE {calling_ae} has no registered host and port: set them in the admin so the "
                        "broker can report storage commitment on a new association")
    return remote


def send_on_new_association(row: StorageCommitment) -> tuple[str, dict]:
    remote = modality_address(row.calling_ae)
    ae_title, host, port = remote.ae_title, remote.host, remote.port
    # TLS when the registry says so, with the client context of every outbound peer (broker.core.tls).
    context = tls.client_context(remote, "remote AE", "the modality")
    ae = identity.application_entity(settings.BROKER_AE_TITLE)
    role = COMMITMENT_REPORT_SCU.request_on(ae)
    timeout = settings.BROKER_COMMITMENT_DICOM_TIMEOUT
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    where = f"{ae_title}@{host}:{port}"
    assoc = ae.associate(host, port, ae_title=ae_title, ext_neg=role,
                         tls_args=(context, host) if context else None)
    if not assoc.is_established:
        if reason := tls.failed(context, where):
            return f"{reason} (storage commitment report)", {}
        return f"association with {where} for the storage commitment report not established", {}
    try:
        accepted = [cx for cx in assoc.accepted_contexts if cx.abstract_syntax == StorageCommitmentPushModel]
        if not accepted:
            return f"{where} did not accept the Storage Commitment Push Model context", {}
        error, fields = send_on(assoc, row)
    finally:
        if assoc.is_established:
            assoc.release()
    if not error:
        fields["reported_via"] = StorageCommitment.Route.NEW
    if not error and not accepted[0].as_scp:
        fields["response_comment"] = error_comment(
            f"{fields.get('response_comment', '')} (modality did not confirm the SCP role)".strip(), 200)
    return error, fields


def attempt(row: StorageCommitment) -> tuple[str, dict]:
    row = services.decide(row)
    try:
        error, fields = send_on_new_association(row)
    except (NoAddress, tls.PeerTLSConfigurationError) as exc:  # retried: staff fix the registry
        error, fields = str(exc), {}
    if not error:
        fields["last_error"] = ""
    return error, fields


def deliver(pk: int) -> Outcome | None:
    """One try of the worker: None (and the task enqueued again) while instances are still arriving."""
    close_old_connections()
    left = services.seconds_until_ready(pk)
    if left > 0:
        enqueue(pk, countdown=left)
        return None
    return COMMITMENT_REPORTS.deliver(pk, attempt)
