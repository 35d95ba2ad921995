"""Which engine sends a SEND job: DCMTK's dcmsend (several times faster) or pynetdicom (can do everything).

BROKER_ROUTING_SENDER: "dcmtk", "pynetdicom", or "auto" (dcmtk when dcmsend is on PATH). Jobs that need
what dcmsend cannot do go through pynetdicom whatever the setting: a TLS destination (dcmsend has no TLS
options) and a rule with attribute changes (dcmsend sends files as they are; changing them on the way out
is done in memory by the pynetdicom sender).
"""
import logging

from django.conf import settings

from broker.routing import dcmsend, sending, sending_dcmtk
from broker.routing.models import RoutingJob

log = logging.getLogger(__name__)

DCMTK, PYNETDICOM = "dcmtk", "pynetdicom"


def engine_for(job: RoutingJob) -> str:
    wanted = settings.BROKER_ROUTING_SENDER
    if wanted == PYNETDICOM:
        return PYNETDICOM
    if not dcmsend.available():
        if wanted == DCMTK:
            log.warning("BROKER_ROUTING_SENDER=dcmtk but dcmsend is not on PATH: job %s goes through pynetdicom", job.pk)
        return PYNETDICOM
    if job.destination.use_tls or (job.rule_id and job.rule.attribute_changes):
        return PYNETDICOM
    return DCMTK


def send_pending(job: RoutingJob) -> None:
    if engine_for(job) == DCMTK:
        sending_dcmtk.send_pending(job)
    else:
        sending.send_pending(job)
