"""N-SET: a modality updates, completes or discontinues its performed procedure step (PS3.4 F.7.2.2)."""
import logging

from django.conf import settings
from django.db import transaction
from pydicom import Dataset

from mpps import journal
from mpps.attributes import FINAL_REQUIREMENTS, FINAL_STATUSES, check_set
from mpps.errors import NoLongerUpdatable, NoSuchInstance, NotTheCreator
from mpps.extraction import performed_series, update_fields
from mpps.linking import refresh_statuses
from mpps.models import PerformedProcedureStep
from mpps.n_create import replace_series
from mpps.signals import performed_step_finalized, performed_step_updated

log = logging.getLogger(__name__)

SPECIFIC_CHARACTER_SET = "00080005"
_FINAL_CHECK_KEYS = {f"{r.tag:08X}" for r in FINAL_REQUIREMENTS} | {"00400340"}


def _stored_for_final_check(stored_json: dict) -> Dataset:
    # Only what the final-state check needs: decoding the whole stored dataset for every N-SET is wasted work.
    return Dataset.from_json({k: v for k, v in stored_json.items() if k in _FINAL_CHECK_KEYS})


def merge(stored_json: dict, modifications_json: dict) -> dict:
    """Top-level attributes replace the stored ones whole (sequences included, F.7.2.2.1); the text is Unicode,
    so when an N-SET came in another character set the merged record is declared UTF-8."""
    merged = dict(stored_json)
    for key, value in modifications_json.items():
        if key == SPECIFIC_CHARACTER_SET:
            if value != stored_json.get(key):
                merged[key] = {"vr": "CS", "Value": ["ISO_IR 192"]}
            continue
        merged[key] = value
    return merged


def check_caller_may_update(performed_step: PerformedProcedureStep, calling_ae: str) -> None:
    """Only the AE that created a step updates it (IHE: the performing modality), unless the site allows others."""
    creator = (performed_step.calling_ae or "").strip()
    caller = (calling_ae or "").strip()
    if creator and caller != creator and not settings.BROKER_MPPS_ALLOW_OTHER_AE_SET:
        raise NotTheCreator(performed_step.sop_instance_uid, creator, caller)


def set_performed_step(sop_instance_uid: str, modifications: Dataset, *, calling_ae: str = "",
                       peer: str = "") -> PerformedProcedureStep:
    """Apply an N-SET to an IN PROGRESS step; a final status completes or discontinues its scheduled steps."""
    uid = (sop_instance_uid or "").strip()
    received = journal.as_json(modifications)
    with transaction.atomic():
        performed_step = PerformedProcedureStep.objects.select_for_update().filter(sop_instance_uid=uid).first()
        if performed_step is None:
            raise NoSuchInstance(uid)
        check_caller_may_update(performed_step, calling_ae)
        if performed_step.is_final:
            raise NoLongerUpdatable(uid, performed_step.status)
        new_status = check_set(modifications, stored=_stored_for_final_check(performed_step.dataset),
                               type2=settings.BROKER_MPPS_REQUIRE_TYPE2)
        for field, value in update_fields(modifications).items():
            setattr(performed_step, field, value)
        performed_step.status = new_status
        performed_step.dataset = merge(performed_step.dataset, received)
        performed_step.save()
        series = performed_series(modifications)
        if series is not None:
            replace_series(performed_step, series)
        journal.record("N-SET", uid, received, calling_ae=calling_ae, peer=peer, performed_step=performed_step)
        if new_status in FINAL_STATUSES:
            step_ids = list(performed_step.scheduled_steps.values_list("pk", flat=True))
            orders_changed = refresh_statuses(step_ids)
            performed_step_finalized.send(sender=PerformedProcedureStep, performed_step=performed_step,
                                          attributes=received, orders_changed=orders_changed, relinked=False)
        else:
            performed_step_updated.send(sender=PerformedProcedureStep, performed_step=performed_step,
                                        attributes=received)
    log.info("MPPS %s set by %s: %s", uid, calling_ae, new_status)
    return performed_step
