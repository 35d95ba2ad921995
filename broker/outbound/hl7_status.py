"""The HL7 status message that tells the RIS how an order is going (IHE RAD-3 style, ORC-1 SC).

Pure: model instances in (read only, nothing queried), message text out. ORM^O01 v2.3.1 for RISes that speak
v2.3/2.4, OMI^O23 v2.5.1 for those that sent v2.5+ orders; RisEndpoint.message_format may force either.
Every time is written by broker.core.hl7v2.dtm.format_dtm: the department's wall-clock time with its UTC offset.
"""
from dataclasses import dataclass
from datetime import datetime, tzinfo

from broker.core.hl7v2.dtm import format_dtm

ORM, OMI = "ORM", "OMI"

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"), ("\r", "\\X0D\\"),
            ("\n", "\\X0A\\"))


def escape(value) -> str:
    text = "" if value is None else str(value)
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def components(*values) -> str:
    return "^".join(escape(v) for v in values).rstrip("^")


def xpn(dicom_name: str) -> str:
    """DICOM PN (family^given^middle^prefix^suffix) → HL7 XPN (family^given^middle^suffix^prefix)."""
    parts = (dicom_name or "").split("=")[0].split("^") + [""] * 5
    family, given, middle, prefix, suffix = parts[:5]
    return components(family, given, middle, suffix, prefix)


def message_kind(message_format: str, order_hl7_version: str) -> str:
    if message_format in (ORM, OMI):
        return message_format
    major_minor = tuple(int(p) for p in (order_hl7_version or "2.3").split(".")[:2] if p.isdigit())
    return OMI if major_minor >= (2, 5) else ORM


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment from {field number: already-encoded value}; unlisted fields stay empty."""
    last = max(fields) if fields else 0
    return "|".join([name] + [fields.get(i, "") for i in range(1, last + 1)])


@dataclass(frozen=True)
class Sender:
    application: str
    facility: str
    receiving_application: str = ""
    receiving_facility: str = ""


def scheduled_start(steps, zone: tzinfo) -> str:
    """The first step's start as DTM: date and time with the offset, or the date alone when only that is known."""
    step = next((s for s in steps if s.start), None)
    if step is None:
        return ""
    return format_dtm(step.start.astimezone(zone).date() if step.start_date_only else step.start, zone)


def _msh(kind: str, sender: Sender, control_id: str, now: str, unicode: bool) -> str:
    message_type, version = ("OMI^O23^OMI_O23", "2.5.1") if kind == OMI else ("ORM^O01", "2.3.1")
    fields = {2: "^~\\&", 3: escape(sender.application), 4: escape(sender.facility),
              5: escape(sender.receiving_application), 6: escape(sender.receiving_facility), 7: now,
              9: message_type, 10: escape(control_id), 11: "P", 12: version}
    if unicode:
        fields[18] = "UNICODE UTF-8"
    # MSH-1 is the field separator itself, so the segment starts "MSH|^~\&".
    return "MSH|" + segment("", fields)[2:]


def _pid(patient) -> str:
    identifier = components(patient.patient_id, "", "", patient.issuer_of_patient_id)
    birth = format_dtm(patient.birth_date, None) if patient.birth_date else ""
    return segment("PID", {1: "1", 3: identifier, 5: xpn(patient.name), 7: birth, 8: escape(patient.sex or "U")})


def _order_numbers(order) -> tuple[str, str]:
    return (components(order.placer_order_number, order.placer_issuer),
            components(order.filler_order_number, order.filler_issuer))


def build(kind: str, *, order, procedures, order_status: str, sender: Sender, control_id: str, now: datetime,
          zone: tzinfo) -> str:
    """The whole message, segments joined by CR. `procedures`: [(RequestedProcedure, [ScheduledProcedureStep])];
    `zone` is the department's (Django's TIME_ZONE), in which every time is written."""
    placer, filler = _order_numbers(order)
    stamp = format_dtm(now, zone)  # MSH-7, ORC-9 (transaction time), OBR-22 (status change time)
    segments = [None, _pid(order.patient), segment("PV1", {1: "1", 2: "U"})]
    for index, (procedure, steps) in enumerate(procedures, start=1):
        service = components(procedure.code_value, procedure.code_meaning or procedure.description,
                             procedure.code_scheme)
        modality = steps[0].modality if steps else ""
        start = scheduled_start(steps, zone)
        if kind == OMI:  # v2.5.1: the start is TQ1-7 (ORC-7 and OBR-27 are kept for backward compatibility only)
            segments.append(segment("ORC", {1: "SC", 2: placer, 3: filler, 5: order_status, 9: stamp}))
            segments.append(segment("TQ1", {1: "1", 7: start}))
            segments.append(segment("OBR", {1: str(index), 2: placer, 3: filler, 4: service, 22: stamp,
                                            24: escape(modality)}))
            for step in steps or [None]:
                segments.append(segment("IPC", {
                    1: escape(order.accession_number), 2: escape(procedure.requested_procedure_id),
                    3: escape(procedure.study_instance_uid), 4: escape(step.sps_id if step else ""),
                    5: escape(step.modality if step else "")}))
        else:  # v2.3.1: the start is TQ component 4 of ORC-7, repeated in OBR-27
            timing = f"^^^{start}" if start else ""
            segments.append(segment("ORC", {1: "SC", 2: placer, 3: filler, 5: order_status, 7: timing, 9: stamp}))
            segments.append(segment("OBR", {1: str(index), 2: placer, 3: filler, 4: service,
                                            18: escape(order.accession_number),
                                            19: escape(procedure.requested_procedure_id),
                                            20: escape(steps[0].sps_id if steps else ""), 22: stamp,
                                            24: escape(modality), 27: timing}))
            segments.append(segment("ZDS", {1: components(procedure.study_instance_uid, sender.application,
                                                          "Application", "DICOM")}))
    body = "\r".join(segments[1:])
    segments[0] = _msh(kind, sender, control_id, stamp, unicode=not body.isascii())
    return "\r".join(segments)


def encode(message: str) -> bytes:
    """UTF-8 when MSH-18 says so, otherwise plain ASCII (the builder declares UTF-8 for any non-ASCII text)."""
    return message.encode("utf-8" if "|UNICODE UTF-8" in message.split("\r", 1)[0] else "ascii")


@dataclass(frozen=True)
class AckReading:
    accepted: bool
    code: str
    text: str


def read_ack(reply: bytes, control_id: str) -> AckReading:
    """MSA-1 AA (or CA) for our MSH-10 = accepted; anything else = not accepted, with the reason."""
    text = reply.decode("utf-8", errors="replace")
    for line in text.replace("\n", "\r").split("\r"):
        if line.startswith("MSA|"):
            fields = line.split("|") + ["", "", ""]
            code, acknowledged, reason = fields[1].strip(), fields[2].strip(), fields[3].strip()
            if acknowledged != control_id:
                return AckReading(False, code or "?", f"ACK is for control ID {acknowledged!r}, not {control_id!r}")
            return AckReading(code in ("AA", "CA"), code, reason)
    return AckReading(False, "?", "reply has no MSA segment")
