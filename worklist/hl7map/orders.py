"""ORM^O01 (v2.3.1/v2.4: ORC+OBR[+ZDS]) and OMI^O23 (v2.5.1: ORC+TQ1+OBR+IPC...) → order values."""
from datetime import tzinfo

from worklist.hl7map import values
from worklist.hl7map.errors import (
    Location,
    MappingWarning,
    RequiredFieldMissing,
    SegmentSequenceError,
    UnknownCode,
)
from worklist.hl7map.fields import OrderFields, OrderMessage, ProcedureFields, StepFields
from worklist.hl7map.patient import map_patient, map_visit

# ORC-1 (HL7 table 0119) → what the order does to the worklist.
ORDER_CONTROL = {
    "NW": "new",
    "XO": "change",
    "XX": "change",
    "CA": "cancel",
    "OC": "cancel",
    "DC": "discontinue",
    "OD": "discontinue",
    "SC": "status",
}

# ORC-5 (HL7 table 0038) → scheduled procedure step status, for SC and XO messages.
ORDER_STATUS = {
    "SC": "SCHEDULED",
    "IP": "STARTED",
    "CM": "COMPLETED",
    "CA": "CANCELED",
    "DC": "DISCONTINUED",
}

_GROUP_SEGMENTS = {"TQ1", "TQ2", "OBR", "NTE", "ZDS", "IPC", "OBX", "CTI", "BLG", "DG1", "RQD"}


def map_order_message(message, tz: tzinfo, preferred_issuer: str = "") -> OrderMessage:
    header = message.header
    groups = _order_groups(message)
    if not groups:
        raise SegmentSequenceError("the message has no ORC segment", Location("ORC"))
    orders: list[OrderFields] = []
    warnings: list[MappingWarning] = []
    for group in groups:
        order = _map_group(group, tz, warnings)
        same = next((o for o in orders if _same_order(o, order)), None)
        if same is None:
            orders.append(order)
        else:  # several ORC/OBR pairs of one order: one requested procedure each
            same.procedures.extend(order.procedures)
    return OrderMessage(
        patient=map_patient(message, preferred_issuer),
        visit=map_visit(message),
        orders=orders,
        sending_application=values.dicom_text(message.first("MSH").get(3)),
        sending_facility=values.dicom_text(message.first("MSH").get(4)),
        hl7_version=header.version[:8],
        warnings=warnings,
    )


def _order_groups(message) -> list[list]:
    groups, current = [], None
    for segment in message.segments:
        if segment.name == "ORC":
            current = [segment]
            groups.append(current)
        elif current is not None and segment.name in _GROUP_SEGMENTS:
            current.append(segment)
    return groups


def _same_order(a: OrderFields, b: OrderFields) -> bool:
    key_a = (a.order_control, a.placer_order_number, a.placer_issuer, a.filler_order_number)
    key_b = (b.order_control, b.placer_order_number, b.placer_issuer, b.filler_order_number)
    return key_a == key_b


def _map_group(group: list, tz: tzinfo, warnings: list[MappingWarning]) -> OrderFields:
    orc = group[0]
    seq = orc.sequence
    by_name: dict[str, list] = {}
    for segment in group[1:]:
        by_name.setdefault(segment.name, []).append(segment)
    obr = (by_name.get("OBR") or [None])[0]
    tq1 = (by_name.get("TQ1") or [None])[0]
    ipcs = by_name.get("IPC", [])

    control = orc.get(1).upper()
    if not control:
        raise RequiredFieldMissing("Order control (ORC-1) is empty", Location("ORC", seq, 1))
    if control not in ORDER_CONTROL:
        raise UnknownCode(f"Order control {control!r} (ORC-1) is not supported; "
                          f"supported: {', '.join(ORDER_CONTROL)}", Location("ORC", seq, 1))
    status = orc.get(5).upper()
    if control == "SC" and status not in ORDER_STATUS:
        raise UnknownCode(f"Order status {status!r} (ORC-5) of a status change is not one of "
                          f"{', '.join(ORDER_STATUS)}", Location("ORC", seq, 5))
    if obr is None:
        raise SegmentSequenceError(f"ORC #{seq} has no OBR segment", Location("OBR", seq))

    placer = orc.get(2) or obr.get(2)
    filler = orc.get(3) or obr.get(3)
    if not placer and not filler:
        raise RequiredFieldMissing("Placer order number (ORC-2) and filler order number (ORC-3) are both empty",
                                   Location("ORC", seq, 2))
    order = OrderFields(
        order_control=control,
        order_status=status,
        placer_order_number=values.identifier(placer, 64, Location("ORC", seq, 2), "Placer order number"),
        placer_issuer=(orc.get(2, 2) or obr.get(2, 2))[:64],
        filler_order_number=values.identifier(filler, 64, Location("ORC", seq, 3), "Filler order number"),
        filler_issuer=(orc.get(3, 2) or obr.get(3, 2))[:64],
        requesting_physician_name=values.xcn_name(orc.components(12) or obr.components(16)),
        reason_for_procedure=values.dicom_text(obr.get(31, 2) or obr.get(31, 1), 200),
        patient_transport_arrangements=values.dicom_text(obr.get(30)),
        medical_alerts=values.dicom_text(obr.get(13)),
        patient_state=values.dicom_text(obr.get(12, 2) or obr.get(12, 1)),
        location=Location("ORC", seq, 1),
    )

    if tq1 is not None:
        start = values.parse_start(tq1.get(7), tz, Location("TQ1", tq1.sequence, 7))
        priority_code = tq1.get(9)
    else:
        start_raw, where = orc.get(7, 4), Location("ORC", seq, 7, 4)
        if not start_raw:
            start_raw, where = obr.get(27, 4), Location("OBR", obr.sequence, 27, 4)
        if not start_raw:
            start_raw, where = obr.get(36), Location("OBR", obr.sequence, 36)  # scheduled date/time
        start = values.parse_start(start_raw, tz, where)
        priority_code = orc.get(7, 6) or obr.get(27, 6) or obr.get(5)
    order.priority = values.priority(priority_code)
    if start is not None and start.warning is not None:
        warnings.append(start.warning)

    service = obr.components(4)
    service += [""] * (6 - len(service))
    procedure_code = obr.components(44) or service[:3]
    procedure_code += [""] * (3 - len(procedure_code))
    protocol = []
    if service[3]:
        protocol.append({"value": service[3], "scheme": service[5], "meaning": service[4]})
    elif service[0]:
        protocol.append({"value": service[0], "scheme": service[2], "meaning": service[1]})
    comments = "\n".join(n.get(3) for n in by_name.get("NTE", []) if n.get(3))
    zds = (by_name.get("ZDS") or [None])[0]
    zds_uid = values.uid(zds.get(1), Location("ZDS", zds.sequence, 1)) if zds is not None else ""
    performing = ""
    technician = obr.repetitions(34)
    if technician:  # NDL/CM: component 1 is a CN name whose subcomponents are ID&family&given...
        msg = obr.message
        subs = [msg.unescape(s) for s in technician[0].split(msg.comp)[0].split(msg.sub)]
        performing = values.xcn_name(subs) if len(subs) > 1 else values.person_name(subs)

    def procedure(rp_id: str, uid: str, uid_location: Location) -> ProcedureFields:
        return ProcedureFields(
            uid_location=uid_location,
            requested_procedure_id=rp_id,
            description=values.dicom_text(procedure_code[1] or service[1]),
            code_value=values.dicom_text(procedure_code[0]),
            code_scheme=values.dicom_text(procedure_code[2]),
            code_meaning=values.dicom_text(procedure_code[1]),
            study_instance_uid=uid,
            comments=comments,
        )

    def step(sps_id: str, modality: str) -> StepFields:
        return StepFields(
            sps_id=sps_id, modality=modality, start=start.moment if start else None,
            start_date_only=start.date_only if start else False, performing_physician_name=performing,
            description=values.dicom_text(service[4] or service[1]), protocol_codes=list(protocol),
        )

    if ipcs:
        accession_location = Location("IPC", ipcs[0].sequence, 1)
        order.accession_number = ipcs[0].get(1)
        order.accession_issuer = ipcs[0].get(1, 2)[:64]
        by_procedure: dict[tuple, ProcedureFields] = {}
        for ipc in ipcs:
            where = lambda f, c=0, ipc=ipc: Location("IPC", ipc.sequence, f, c)  # noqa: E731
            rp_id = values.identifier(ipc.get(2), 16, where(2), "Requested Procedure ID")
            uid = values.uid(ipc.get(3), where(3))
            key = (rp_id, uid)
            if key not in by_procedure:
                by_procedure[key] = procedure(rp_id, uid, where(3))
            sps = step(values.identifier(ipc.get(4), 16, where(4), "Scheduled Procedure Step ID"),
                       values.identifier(ipc.get(5), 16, where(5), "Modality").upper())
            codes = [c for r in range(len(ipc.repetitions(6))) if (c := _code(ipc, 6, r))]
            if codes:
                sps.protocol_codes = codes
                sps.description = values.dicom_text(codes[0]["meaning"]) or sps.description
            sps.station_name = values.dicom_text(ipc.get(7), 16)
            sps.location = values.identifier(ipc.get(8), 16, where(8), "Scheduled Procedure Step Location")
            sps.station_ae_title = values.identifier(ipc.get(9), 16, where(9), "Scheduled Station AE Title")
            by_procedure[key].steps.append(sps)
        order.procedures = list(by_procedure.values())
    else:
        accession_location = Location("OBR", obr.sequence, 18)
        order.accession_number = obr.get(18)
        rp_id = values.identifier(obr.get(19), 16, Location("OBR", obr.sequence, 19), "Requested Procedure ID")
        sps_id = values.identifier(obr.get(20), 16, Location("OBR", obr.sequence, 20), "Scheduled Procedure Step ID")
        modality = values.identifier(obr.get(24), 16, Location("OBR", obr.sequence, 24), "Modality").upper()
        proc = procedure(rp_id, zds_uid, Location("ZDS", zds.sequence, 1) if zds is not None else Location())
        proc.steps.append(step(sps_id, modality))
        order.procedures = [proc]
    order.accession_number = values.identifier(order.accession_number, 16, accession_location, "Accession number")
    order.accession_location = accession_location
    if control == "NW" and not order.accession_number:
        raise RequiredFieldMissing(f"Accession number ({accession_location}) is empty", accession_location)
    return order


def _code(segment, field: int, repetition: int) -> dict | None:
    value = segment.get(field, 1, 1, repetition)
    if not value:
        return None
    return {"value": value, "scheme": segment.get(field, 3, 1, repetition),
            "meaning": segment.get(field, 2, 1, repetition)}
