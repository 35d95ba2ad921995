"""Orders from HL7 (ORM^O01 / OMI^O23) applied to the worklist: new, change, cancel, discontinue, status.

Called inside the intake's transaction; raises worklist.hl7map.errors exceptions for what cannot be applied.
"""
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Q
from pydicom.uid import generate_uid

from worklist import new_order_reads, order_writes, stations
from worklist.hl7map.errors import DuplicateKey, Location, UnknownKey
from worklist.hl7map.fields import OrderFields, OrderMessage, ProcedureFields, StepFields
from worklist.hl7map.orders import ORDER_CONTROL, ORDER_STATUS
from worklist.models import ImagingOrder, RequestedProcedure, ScheduledProcedureStep
from worklist.names import search_key
from worklist.order_writes import NewOrder, NewProcedure
from worklist.patients import demographic_changes, upsert_patient

Step = ScheduledProcedureStep.Status
OPEN_STEP = ("SCHEDULED", "ARRIVED", "READY")
FINAL_STEP = ("COMPLETED", "DISCONTINUED", "CANCELED")
ORDER_STATUS_FOR_STEP = {"SCHEDULED": "SCHEDULED", "STARTED": "IN_PROGRESS", "COMPLETED": "COMPLETED",
                         "CANCELED": "CANCELED", "DISCONTINUED": "DISCONTINUED"}
ORDER_VALUES = ("requesting_physician_name", "priority", "reason_for_procedure", "patient_transport_arrangements",
                "medical_alerts", "patient_state")


@dataclass
class Applied:
    patient_id: int | None
    order_id: int | None
    # New orders (with procedures and steps) not written yet: write() inserts them, then the caller's own
    # rows (the HL7 log row) that refer to the first of them.
    pending: list[NewOrder] = field(default_factory=list)
    first_new: int | None = None  # index in `pending` of the order whose id order_id will be
    pending_orders: list = field(default_factory=list)  # their OrderFields, to name one in an error


def apply_order_message(message: OrderMessage) -> Applied:
    """Apply every order group; new orders stay pending until write(applied) (the caller's, in its transaction)."""
    check_new_order_keys(message)
    applied = Applied(None, None)
    patient = None
    for fields in message.orders:
        action = ORDER_CONTROL[fields.order_control]
        if action == "new":
            if patient is None:  # PID/PV1 update the patient on a new order only (IHE RAD-13: not on changes)
                patient = upsert_patient(message.patient)
            if applied.order_id is None and applied.first_new is None:
                applied.first_new = len(applied.pending)
            applied.pending_orders.append(fields)
            applied.pending.append(new_order(patient, message, fields))
            applied.patient_id = applied.patient_id or patient.pk
            continue
        write(applied)  # this group may refer to an order that an earlier group of the message created
        order = find_order(fields)
        if action == "change":
            change_order(order, message, fields)
        elif action == "cancel":
            end_order(order, Step.CANCELED)
        elif action == "discontinue":
            end_order(order, Step.DISCONTINUED)
        else:
            set_status(order, ORDER_STATUS[fields.order_status])
        applied.patient_id = applied.patient_id or order.patient_id
        if applied.first_new is None:
            applied.order_id = applied.order_id or order.pk
    return applied


def write(applied: Applied, also: list = ()) -> None:
    """Insert the pending new orders, then `also` (unsaved rows with an order_id and a patient_id to fill),
    through the ORM in the caller's transaction."""
    try:
        order_writes.write_new_orders(applied.pending)
    except IntegrityError as exc:
        # A unique key taken by another connection between check_new_order_keys and this insert.
        fields = applied.pending_orders[0] if applied.pending_orders else None
        if fields is None:
            raise
        if "placer_order_number" in str(exc):  # with several new orders, the first is named
            raise DuplicateKey(f"Order {fields.placer_order_number!r} exists already; send XO to change it",
                               Location("ORC", fields.location.sequence, 2)) from exc
        if "study_instance_uid" in str(exc):
            procs = [p for f in applied.pending_orders for p in f.procedures if p.study_instance_uid]
            where = procs[0].uid_location if procs else Location()
            raise DuplicateKey(f"Study Instance UID {procs[0].study_instance_uid if procs else ''} ({where}) "
                               f"already belongs to another order", where) from exc
        raise
    if applied.first_new is not None:
        applied.order_id = applied.pending[applied.first_new].order.pk
    applied.pending, applied.first_new, applied.pending_orders = [], None, []
    for obj in also:
        obj.patient_id, obj.order_id = applied.patient_id, applied.order_id
        obj.save(force_insert=True)


def place_new_orders(message: OrderMessage, also: list = ()) -> bool:
    """A message of new orders only, for a patient that exists and that the message leaves unchanged: the
    orders with their procedures and steps, and `also` (unsaved rows that get the patient_id and the first
    order's order_id) written by order_writes.write_new_order (one statement, its own commit on PostgreSQL).

    False when the message needs apply_order_message and write() instead, nothing having been written: the
    fast path switched off (BROKER_HL7_ORDER_WRITES=orm), other order controls, a new, merged or changed
    patient (the rules of worklist.patients decide), and a unique key taken meanwhile (a repeated message,
    a placer order number in use), which that path meets again and answers.
    """
    if not order_writes.one_statement_enabled() or \
            any(ORDER_CONTROL[f.order_control] != "new" for f in message.orders):
        return False
    patient, key_may_be_taken = new_order_reads.patient_and_key_check(message)  # one round trip
    if key_may_be_taken:
        check_new_order_keys(message)  # a taken key: DuplicateKey here, before the statement
    if patient is None or patient.merged_into_id or demographic_changes(patient, message.patient):
        return False
    new_orders = [new_order(patient, message, fields) for fields in message.orders]
    for obj in also:
        obj.patient_id = patient.pk
    return order_writes.write_new_order(new_orders, also)


# What the key check reads of a conflicting order: only these columns (a lean row, not a model with its patient:
# the check runs for every new order, and building full rows was most of its cost).
_KEY_COLUMNS = ("pk", "placer_order_number", "placer_issuer", "accession_number", "filler_order_number",
                "patient__patient_id", "patient__issuer_of_patient_id")


def _describe(order) -> str:
    """`order`: a row of _KEY_COLUMNS (values_list(named=True))."""
    return (f"order #{order.pk} (accession {order.accession_number!r}, placer {order.placer_order_number!r}) "
            f"of patient {order.patient__patient_id!r}")


def check_new_order_keys(message: OrderMessage) -> None:
    """Refuse (DuplicateKey, table 0357 code 205) a new order whose Study Instance UID, placer number, or whose
    accession or filler number of another patient's order, is taken: checked before any row is written, with
    one query per table, so the sender learns which field names which order."""
    new = [f for f in message.orders if ORDER_CONTROL[f.order_control] == "new"]
    if not new:
        return
    uids: dict[str, Location] = {}
    for fields in new:
        for proc in fields.procedures:
            if not proc.study_instance_uid:
                continue
            if proc.study_instance_uid in uids:
                raise DuplicateKey(f"Study Instance UID {proc.study_instance_uid} ({proc.uid_location}) is sent "
                                   f"twice in this message", proc.uid_location)
            uids[proc.study_instance_uid] = proc.uid_location
    if uids:
        taken = (ImagingOrder.objects.filter(requested_procedures__study_instance_uid__in=list(uids)).order_by("pk")
                 .values_list("requested_procedures__study_instance_uid", *_KEY_COLUMNS, named=True)[:1])
        for order in taken:
            where = uids[order.requested_procedures__study_instance_uid]
            raise DuplicateKey(f"Study Instance UID {order.requested_procedures__study_instance_uid} ({where}) already "
                               f"belongs to {_describe(order)}", where)
    patient = (message.patient.patient_id, message.patient.issuer_of_patient_id)
    placers, others = Q(), Q()
    for f in new:
        if f.placer_order_number:
            placers |= Q(placer_order_number=f.placer_order_number, placer_issuer=f.placer_issuer)
        if f.accession_number:
            others |= Q(accession_number=f.accession_number)
        if f.filler_order_number:
            others |= Q(filler_order_number=f.filler_order_number)
    if others:  # an accession or filler number the same patient's earlier order carries is no conflict
        others &= ~Q(patient__patient_id=patient[0], patient__issuer_of_patient_id=patient[1])
    keys = placers | others
    if not keys:
        return
    for order in ImagingOrder.objects.filter(keys).order_by("pk").values_list(*_KEY_COLUMNS, named=True)[:20]:
        same_patient = (order.patient__patient_id, order.patient__issuer_of_patient_id) == patient
        for f in new:
            seq = f.location.sequence
            if f.placer_order_number and (order.placer_order_number, order.placer_issuer) == \
                    (f.placer_order_number, f.placer_issuer):
                where = Location("ORC", seq, 2)
                if same_patient:  # the wording staff and RIS know: a resend of NW where XO was meant
                    raise DuplicateKey(f"Order {f.placer_order_number!r} exists already ({_describe(order)}); "
                                       f"send XO to change it", where)
                raise DuplicateKey(f"Placer order number {f.placer_order_number!r} ({where}) already belongs to "
                                   f"{_describe(order)}", where)
            if same_patient:
                continue
            if f.accession_number and order.accession_number == f.accession_number:
                raise DuplicateKey(f"Accession number {f.accession_number!r} ({f.accession_location}) already "
                                   f"belongs to {_describe(order)}", f.accession_location)
            if f.filler_order_number and order.filler_order_number == f.filler_order_number:
                where = Location("ORC", seq, 3)
                raise DuplicateKey(f"Filler order number {f.filler_order_number!r} ({where}) already belongs to "
                                   f"{_describe(order)}", where)


def find_order(fields: OrderFields) -> ImagingOrder:
    """The order a change/cancel/status message refers to: placer number, else filler number, else accession."""
    orders = ImagingOrder.objects.select_related(None)
    if fields.placer_order_number:
        found = orders.filter(placer_order_number=fields.placer_order_number, placer_issuer=fields.placer_issuer).first()
        if found is None:  # some RISes send the namespace (ORC-2.2) on NW only: a number that is unique still names it
            same_number = list(orders.filter(placer_order_number=fields.placer_order_number)[:2])
            found = same_number[0] if len(same_number) == 1 else None
        where = Location("ORC", fields.location.sequence, 2)
    elif fields.filler_order_number:
        found = orders.filter(filler_order_number=fields.filler_order_number).order_by("-id").first()
        where = Location("ORC", fields.location.sequence, 3)
    else:
        found = orders.filter(accession_number=fields.accession_number).order_by("-id").first()
        where = Location("OBR", fields.location.sequence, 18)
    if found is None:
        key = fields.placer_order_number or fields.filler_order_number or fields.accession_number
        raise UnknownKey(f"Order {key!r} is not known; order control {fields.order_control} needs an earlier NW",
                         where)
    return found


def new_order(patient, message: OrderMessage, fields: OrderFields) -> NewOrder:
    """A new order (unsaved) with its procedures and steps."""
    visit = message.visit
    order = ImagingOrder(
        patient_id=patient.pk,
        placer_order_number=fields.placer_order_number, placer_issuer=fields.placer_issuer,
        filler_order_number=fields.filler_order_number, filler_issuer=fields.filler_issuer,
        accession_number=fields.accession_number, accession_issuer=fields.accession_issuer,
        referring_physician_name=visit.referring_physician_name, admission_id=visit.admission_id,
        current_patient_location=visit.current_patient_location,
        sending_application=message.sending_application[:64], sending_facility=message.sending_facility[:64],
        hl7_version=message.hl7_version, status=ImagingOrder.Status.SCHEDULED,
        **{name: getattr(fields, name) for name in ORDER_VALUES},
    )
    return NewOrder(order, _new_procedures(order, fields.procedures, start_index=1))


def _new_procedures(order: ImagingOrder, procedures: list[ProcedureFields], start_index: int) -> list[NewProcedure]:
    """Requested procedures (unsaved) and their steps, numbered from `start_index` for IDs the RIS left out."""
    new = []
    for n, proc in enumerate(procedures, start=start_index):
        rp = RequestedProcedure(
            requested_procedure_id=proc.requested_procedure_id or _default_id(order.accession_number, n),
            description=proc.description, code_value=proc.code_value, code_scheme=proc.code_scheme,
            code_meaning=proc.code_meaning, comments=proc.comments,
            study_instance_uid=proc.study_instance_uid or generate_uid(prefix=settings.BROKER_UID_ROOT),
        )
        steps = []
        for m, step_fields in enumerate(proc.steps, start=1):
            step = ScheduledProcedureStep(status=Step.SCHEDULED)
            _fill_step(step, step_fields, rp, order, default_id=_default_id(rp.requested_procedure_id, m))
            steps.append(step)
        new.append(NewProcedure(rp, steps))
    return new


def _default_id(base: str, n: int) -> str:
    """An ID when the RIS sends none: the parent's, with '-n' for the second and later children (SH: 16)."""
    if n == 1:
        return base[:16]
    suffix = f"-{n}"
    return base[: 16 - len(suffix)] + suffix


def _fill_step(step, fields: StepFields, rp: RequestedProcedure, order: ImagingOrder, default_id: str = "") -> None:
    step.sps_id = fields.sps_id or step.sps_id or default_id
    step.modality = fields.modality or step.modality
    if fields.start is not None:
        step.start, step.start_date_only = fields.start, fields.start_date_only
    step.performing_physician_name = fields.performing_physician_name or step.performing_physician_name
    step.performing_physician_search = search_key(step.performing_physician_name)  # bulk_create skips save()
    step.description = fields.description or step.description
    step.protocol_codes = fields.protocol_codes or step.protocol_codes
    step.location = fields.location or step.location
    if fields.station_ae_title:
        step.station_ae_title = fields.station_ae_title
        step.station_name = fields.station_name or step.station_name
    else:
        locations = [loc for loc in (step.location, order.current_patient_location.split(" ")[0]) if loc]
        titles, names = stations.assign(step.modality, rp.code_value, locations)
        if titles or not step.station_ae_title:
            step.station_ae_title = titles
            step.station_name = fields.station_name or names or step.station_name


def change_order(order: ImagingOrder, message: OrderMessage, fields: OrderFields) -> None:
    """XO/XX: new procedure information (time, modality, station, codes); never patient data (IHE RAD-13)."""
    changed = [name for name in ORDER_VALUES if getattr(fields, name) and getattr(order, name) != getattr(fields, name)]
    for name in changed:
        setattr(order, name, getattr(fields, name))
    if fields.accession_number and fields.accession_number != order.accession_number:
        order.accession_number = fields.accession_number
        changed.append("accession_number")
    if changed:
        order.save(update_fields=changed + ["updated_at"])
    existing = list(order.requested_procedures.all())
    steps_by_rp = {rp.pk: [] for rp in existing}
    for step in ScheduledProcedureStep.objects.filter(requested_procedure__order=order).order_by("id"):
        steps_by_rp[step.requested_procedure_id].append(step)
    new_procedures = []
    for proc in fields.procedures:
        rp = _match_procedure(existing, proc, single=len(fields.procedures) == 1)
        if rp is None:
            new_procedures.append(proc)
            continue
        for name in ("description", "code_value", "code_scheme", "code_meaning", "comments"):
            if getattr(proc, name):
                setattr(rp, name, getattr(proc, name))
        rp.save()  # the Study Instance UID stays as first assigned: images may already carry it
        steps = steps_by_rp[rp.pk]
        for step_fields in proc.steps:
            step = next((s for s in steps if step_fields.sps_id and s.sps_id == step_fields.sps_id), None)
            if step is None and len(steps) == 1 and len(proc.steps) == 1:
                step = steps[0]
            if step is None:
                step = ScheduledProcedureStep(requested_procedure=rp, status=Step.SCHEDULED)
                steps.append(step)
                _fill_step(step, step_fields, rp, order, default_id=_default_id(rp.requested_procedure_id, len(steps)))
            else:
                _fill_step(step, step_fields, rp, order)
            step.save()
    if new_procedures:
        order_writes.write_procedures([(order, _new_procedures(order, new_procedures, start_index=len(existing) + 1))])
    if fields.order_status in ("CM", "CA", "DC"):  # XO with ORC-5 CM: the procedure is done, it leaves the worklist
        set_status(order, ORDER_STATUS[fields.order_status])


def _match_procedure(existing: list[RequestedProcedure], proc: ProcedureFields, single: bool):
    for rp in existing:
        if proc.study_instance_uid and rp.study_instance_uid == proc.study_instance_uid:
            return rp
    for rp in existing:
        if proc.requested_procedure_id and rp.requested_procedure_id == proc.requested_procedure_id:
            return rp
    # One procedure in the order and in the message, not both named otherwise: the same one (v2.3.1 XO without IDs).
    if single and len(existing) == 1 and not (proc.requested_procedure_id and proc.study_instance_uid):
        return existing[0]
    return None


def end_order(order: ImagingOrder, step_status: str) -> None:
    """CA/OC cancel, DC discontinue: open steps leave the worklist; a step already started stays (its MPPS rules it)."""
    ScheduledProcedureStep.objects.filter(requested_procedure__order=order, status__in=OPEN_STEP).update(
        status=step_status)
    ImagingOrder.objects.filter(pk=order.pk).update(status=ORDER_STATUS_FOR_STEP[step_status])


def set_status(order: ImagingOrder, step_status: str) -> None:
    """SC (and XO with a final ORC-5): every step not yet in a final state takes the new status."""
    ScheduledProcedureStep.objects.filter(requested_procedure__order=order).exclude(status__in=FINAL_STEP).update(
        status=step_status)
    ImagingOrder.objects.filter(pk=order.pk).update(status=ORDER_STATUS_FOR_STEP[step_status])
