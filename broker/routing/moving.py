"""The MOVE action: ask the archive named by the rule to C-MOVE the study to the job's destination."""
from django.utils import timezone
from pydicom import Dataset
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

from broker.core.dicom_roles import UNCOMPRESSED_SYNTAXES, ScuRole
from broker.routing.associations import (
    ROUTING_MAX_PDU,
    DeliveryError,
    PermanentDeliveryError,
    application_entity,
    associate,
)
from broker.routing.models import RoutingJob

MOVE_DESTINATION_UNKNOWN = 0xA801
MOVE_SCU = ScuRole(
    name="Study Root Query/Retrieve Move SCU (routing)",
    purpose="Asks the archive a MOVE rule names to C-MOVE a completed study (STUDY level, Study Instance UID) "
            "to the rule's destination.",
    sop_classes=(StudyRootQueryRetrieveInformationModelMove,),
    transfer_syntaxes=UNCOMPRESSED_SYNTAXES,
    timeout_setting="BROKER_ROUTING_TIMEOUT",
    peers="routing destinations marked as move sources (admin)",
    maximum_pdu=ROUTING_MAX_PDU,
    tls="per move source, when its TLS settings ask for it (`use_tls`)",
)


def move_study(job: RoutingJob) -> None:
    source = job.rule.move_source if job.rule_id else None
    if source is None:
        raise PermanentDeliveryError("the MOVE rule names no archive (move source)")
    ae = application_entity()
    MOVE_SCU.request_on(ae)
    assoc = associate(ae, source)
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
