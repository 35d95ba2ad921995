"""One IAN row sent to its subscriber: one association, one N-CREATE (PS3.4 R.2), the answer recorded."""
from django.conf import settings
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.sop_class import InstanceAvailabilityNotification

from broker.availability.models import IAN_NOTIFICATIONS, AvailabilityNotification
from broker.core import identity
from broker.core.dicom_roles import ScuRole
from broker.core.work_queue import Outcome
from broker.outbound import tls

IAN_SCU = ScuRole(
    name="Instance Availability Notification SCU (IAN)",
    purpose="Tells each enabled IAN subscriber (a RIS, a reporting system) with an N-CREATE that a study is "
            "complete, and again when it reached all its destinations, as each subscriber's trigger says; durably "
            "queued and retried.",
    sop_classes=(InstanceAvailabilityNotification,),
    transfer_syntaxes=(ExplicitVRLittleEndian, ImplicitVRLittleEndian),
    timeout_setting="BROKER_OUTBOUND_DICOM_TIMEOUT",
    peers="IAN subscribers (admin, `manage.py iansubscribers`)",
    tls="per IAN subscriber, when its TLS settings ask for it (`use_tls`)",
)

DUPLICATE_SOP_INSTANCE = 0x0111


def send(row: AvailabilityNotification) -> tuple[int | None, str]:
    """(status or None when no answer came, comment or what went wrong)."""
    subscriber = row.subscriber
    ae = identity.application_entity(settings.BROKER_AE_TITLE)
    IAN_SCU.request_on(ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.BROKER_OUTBOUND_DICOM_TIMEOUT
    ae.connection_timeout = settings.BROKER_OUTBOUND_DICOM_TIMEOUT  # also bounds the TLS handshake
    context = tls.client_context(subscriber, "IAN subscriber", "the IAN subscriber")
    assoc = ae.associate(subscriber.host, subscriber.port, ae_title=subscriber.ae_title,
                         tls_args=(context, subscriber.host) if context else None)
    where = f"{subscriber.ae_title}@{subscriber.host}:{subscriber.port}"
    if not assoc.is_established:
        return None, tls.failed(context, where) or f"association with {where} not established"
    try:
        if not any(cx.abstract_syntax == InstanceAvailabilityNotification for cx in assoc.accepted_contexts):
            return None, f"{where} did not accept the Instance Availability Notification context"
        status, _ = assoc.send_n_create(Dataset.from_json(row.dataset), InstanceAvailabilityNotification,
                                        row.sop_instance_uid)
    finally:
        if assoc.is_established:
            assoc.release()
    if "Status" not in status:
        return None, "no response to the N-CREATE (timeout or abort)"
    return int(status.Status), str(status.get("ErrorComment", "") or "")


def delivered(status: int, attempts: int) -> str | None:
    """Whether the subscriber has the notification; the note says why a failure status still means yes."""
    if status == 0x0000 or 0xB000 <= status <= 0xBFFF:
        return ""
    if status == DUPLICATE_SOP_INSTANCE and attempts > 1:
        return "subscriber already had this IAN (0x0111): an earlier try reached it"
    return None


def attempt(row: AvailabilityNotification) -> tuple[str, dict]:
    """One try: ("", answer) when the subscriber has it, else (what went wrong, answer)."""
    try:
        status, comment = send(row)
    except tls.PeerTLSConfigurationError as exc:  # retried like any failure: the administrator fixes the file
        status, comment = None, str(exc)
    except Exception as exc:  # network errors of every kind: retried, never lost
        status, comment = None, f"{type(exc).__name__}: {exc}"
    if status is None:
        return comment, {"response_status": None, "response_comment": ""}
    note = delivered(status, row.attempts)
    if note is not None:
        return "", {"response_status": status, "response_comment": (note or comment)[:200]}
    return (f"subscriber answered 0x{status:04X} {comment}".strip(),
            {"response_status": status, "response_comment": comment[:200]})


def deliver(pk: int) -> Outcome:
    return IAN_NOTIFICATIONS.deliver(pk, attempt)
