"""C-STORE of a job's pending instances with DCMTK's dcmsend (the fast sender), in batches.

Same guarantees as the pynetdicom sender (`sending`): only instances the destination has not confirmed
are sent, each in its stored transfer syntax, each confirmation is recorded, and failures raise the same errors, so
`delivery` retries and gives up alike. A batch is one dcmsend run (BROKER_ROUTING_DCMSEND_BATCH instances,
at most 1 GB). Confirmations are committed one by one as the responses arrive (read from dcmsend's log), so a
killed worker re-sends only the in-flight window; the report at the end of the run is authoritative (it adds any confirmation the log did not show and corrects the syntax).
"""
from django.conf import settings
from pydicom.uid import UID, ExplicitVRLittleEndian, RLELossless

from broker.routing import dcmsend
from broker.routing.associations import DeliveryError, sop_class_words, unreachable, where
from broker.routing.models import DeliveredInstance, RoutingJob
from broker.routing.sending import SUCCESS_STATUSES, Confirmations, pending_instances, raise_for, send_instances
from broker.routing.storage import instance_path

# Should the live log not show confirmations (another DCMTK version's wording), the report at the end of a run
# is the job's heartbeat: bound a run's bytes too, so it ends within BROKER_ROUTING_STALE_SECONDS.
BATCH_MAX_BYTES = 1024 * 1024 * 1024

# dcmsend proposes one context per file with the file's syntax and every syntax it can convert to (an uncompressed
# file: Explicit VR Little Endian, Big Endian, Implicit; a lossless compressed one: its own, then those three) and
# lets the destination choose. Orthanc chooses Explicit VR Little Endian, so an Implicit VR file arrived re-encoded
# (a private element's VR turned into UN) and an RLE file decompressed. So dcmsend sends an Explicit VR Little
# Endian file (proposed in its own syntax first) and the compressed files the pynetdicom sender could not decompress
# for a destination that wants them uncompressed (JPEG, JPEG-LS, JPEG 2000: lossless ones dcmsend decompresses when
# the destination chooses so, lossy ones it proposes in their own syntax only). Every other file (Implicit VR, Big
# Endian, deflated, RLE) goes through the pynetdicom sender, which proposes the stored syntax and each fallback in
# contexts of their own and sends the stored bytes wherever the destination accepts them
# (tests/routing/test_routing_any_sop_class.py, against Orthanc).
def through_dcmsend(instance) -> bool:
    syntax = UID(instance.transfer_syntax_uid)
    return syntax == ExplicitVRLittleEndian or (syntax.is_encapsulated and syntax != RLELossless)


def batches(instances: list, count: int, max_bytes: int = BATCH_MAX_BYTES):
    """Runs of at most count instances and max_bytes (a larger instance goes alone)."""
    batch, size = [], 0
    for instance in instances:
        if batch and (len(batch) >= count or size + instance.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(instance)
        size += instance.size
    if batch:
        yield batch


def send_pending(job: RoutingJob) -> None:
    instances = list(pending_instances(job))
    failures, permanent = [], []
    for batch in batches([i for i in instances if through_dcmsend(i)], max(settings.BROKER_ROUTING_DCMSEND_BATCH, 1)):
        _send_batch(job, batch, failures, permanent)
    others = [i for i in instances if not through_dcmsend(i)]
    if others:
        send_instances(job, others, failures, permanent)
    raise_for(failures, permanent)


def _send_batch(job: RoutingJob, batch, failures: list, permanent: list) -> None:
    destination = job.destination
    by_path = {str(instance_path(instance)): instance for instance in batch}
    # Each confirmation is committed as its response is read from dcmsend's log (dcmsend keeps sending meanwhile;
    # its log waits in the pipe), so a killed worker re-sends only the in-flight window (see Confirmations).
    confirmations = Confirmations(job)
    live_syntax = {}

    def confirmed(filename: str, status: int, converted: str | None) -> None:
        instance = by_path.get(filename)
        if instance is not None and status in SUCCESS_STATUSES:
            live_syntax[filename] = converted or instance.transfer_syntax_uid
            confirmations.add(instance, live_syntax[filename])

    try:
        run = dcmsend.send_files(list(by_path), host=destination.host, port=destination.port,
                                 calling_ae=settings.BROKER_AE_TITLE, called_ae=destination.ae_title,
                                 timeout=settings.BROKER_ROUTING_TIMEOUT, on_response=confirmed)
    finally:
        confirmations.flush()
    if run.returncode == 61 and not any(result.status is not None for result in run.results):
        # Nothing was answered: the association never came about; say that, not "N instances refused".
        confirmations.flush()
        raise DeliveryError(_association_failure(destination, run.errors))
    for result in run.results:
        instance = by_path.get(result.filename)
        if instance is None:
            continue
        if result.status in SUCCESS_STATUSES:
            if result.filename not in live_syntax:
                confirmations.add(instance, result.network_syntax)
            elif live_syntax[result.filename] != result.network_syntax:
                DeliveredInstance.objects.filter(job=job, instance=instance).update(transfer_syntax_uid=result.network_syntax)
        elif result.no_context:
            permanent.append(f"{instance.sop_instance_uid}: {_no_context_reason(result)}")
        elif result.status is not None:
            failures.append(f"{instance.sop_instance_uid}: status 0x{result.status:04X} {result.note}".strip())
        else:
            failures.append(f"{instance.sop_instance_uid}: not sent ({result.note})")
    confirmations.flush()
    reported = {result.filename for result in run.results}
    if run.returncode == 0 and reported >= set(by_path):
        return
    if run.returncode == 61:
        raise DeliveryError(_association_failure(destination, run.errors))
    raise DeliveryError(f"dcmsend to {where(destination)} ended with exit status {run.returncode}: "
                        f"{run.errors or 'no report'}")


def _association_failure(destination, errors: str) -> str:
    if "Rejected" in errors:
        return f"{where(destination)} rejected the association ({errors})"
    if "Connection refused" in errors:
        return f"could not connect to {where(destination)}: connection refused"
    return unreachable(destination) + (f" ({errors})" if errors else "")


def _no_context_reason(result: dcmsend.InstanceResult) -> str:
    original = UID(result.original_syntax)
    if original.is_encapsulated and result.network_syntax in ("", result.original_syntax):
        # dcmsend offers an uncompressed context too when it can decompress (lossless only).
        return f"the destination refused {original.name} and it cannot be decompressed here"
    return f"the destination accepted no context for SOP class {sop_class_words(result.sop_class_uid)}"
