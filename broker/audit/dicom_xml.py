"""An audit event as its DICOM audit message (PS3.15 A.5, the schema in broker/audit/schema/). Pure.

`audit_message(event, source)` takes the event's values (a dict with the AuditEvent's fields and id) and the
broker's identity, and returns the AuditMessage element; `to_xml` serialises it. Patients are Participant Objects
of type Person / role Patient identified by Patient ID; studies by Study Instance UID (with their SOP classes and
instance counts, accession and MPPS); a worklist query by the MWL SOP Class UID with its keys as the query; the
broker's own records (HL7 messages, orders, configuration rows, queue rows) with the broker's "99BROKER" codes.
"""
import base64
import ipaddress
import json
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from broker.audit import events

SOURCE_ROLE = events.dcm("110153", "Source Role ID")
DESTINATION_ROLE = events.dcm("110152", "Destination Role ID")
APPLICATION_ROLE = events.dcm("110150", "Application")
PATIENT_NUMBER = ("2", "RFC-3881", "Patient Number")
STUDY_INSTANCE_UID = events.dcm("110180", "Study Instance UID")
SOP_CLASS_UID = events.dcm("110181", "SOP Class UID")
URI = ("12", "RFC-3881", "URI")
APPLICATION_SERVER = "4"  # AuditSourceTypeCode: application server process

# Kinds in which the broker sends to the actor (it is the requestor and the source, the actor the destination).
_BROKER_SENDS = {events.ROUTING_DELIVERED}
# Kinds in which the actor sends to the broker (the actor is the source, the broker the destination).
_ACTOR_SENDS = {events.STUDY_BEGIN, events.STUDY_RECEIVED, events.MWL_QUERY, events.HL7_ORDER, events.HL7_PATIENT,
                events.HL7_REFUSED, events.MPPS_CREATE, events.MPPS_SET}


@dataclass(frozen=True)
class AuditSource:
    source_id: str  # AuditSourceID: the broker's AE title
    site: str = ""  # AuditEnterpriseSiteID: the department (BROKER_HL7_FACILITY)
    host: str = ""  # the broker's host name, its network access point


def _code(parent: ET.Element, tag: str, code: tuple) -> ET.Element:
    value, scheme, meaning = code
    return ET.SubElement(parent, tag, {"csd-code": value, "codeSystemName": scheme, "originalText": meaning})


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def network_access_point(address: str) -> tuple[str, str]:
    """(NetworkAccessPointID, NetworkAccessPointTypeCode): an IP address without its port is type 2, a name 1."""
    host = address
    if host.startswith("[") and "]" in host:
        host = host[1:host.index("]")]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host, "1"
    return host, "2"


def _participant(parent, user_id: str, requestor: bool, address: str = "", role: tuple | None = None,
                 user_name: str = "") -> None:
    attributes = {"UserID": user_id, "UserIsRequestor": "true" if requestor else "false"}
    if user_name:
        attributes["UserName"] = user_name
    if address:
        attributes["NetworkAccessPointID"], attributes["NetworkAccessPointTypeCode"] = network_access_point(address)
    element = ET.SubElement(parent, "ActiveParticipant", attributes)
    if role is not None:
        _code(element, "RoleIDCode", role)


def _participants(message, event: dict, source: AuditSource) -> None:
    kind = event["kind"]
    user, ae, address = event["actor_user"], event["actor_ae"], event["actor_address"]
    broker_role = actor_role = None
    if kind in _BROKER_SENDS:
        broker_role, actor_role = SOURCE_ROLE, DESTINATION_ROLE
    elif kind in _ACTOR_SENDS:
        broker_role, actor_role = DESTINATION_ROLE, SOURCE_ROLE
    elif events.CATALOGUE[kind].event_id == events.APPLICATION_ACTIVITY:
        broker_role = APPLICATION_ROLE
    if user:
        _participant(message, user, True, address, user_name=user)
    elif ae:
        _participant(message, ae, kind not in _BROKER_SENDS, address, actor_role)
    broker_requests = not (user or ae) or kind in _BROKER_SENDS
    # The broker itself: its AE title, on its host.
    _participant(message, source.source_id, broker_requests, source.host, broker_role)


def _object(message, object_id: str, id_type: tuple, *, type_code: str = "2", role: str | None = None,
            name: str | None = None, query: str | None = None, details: dict | None = None,
            description=None) -> None:
    attributes = {"ParticipantObjectID": object_id or "-", "ParticipantObjectTypeCode": type_code}
    if role:
        attributes["ParticipantObjectTypeCodeRole"] = role
    element = ET.SubElement(message, "ParticipantObjectIdentification", attributes)
    _code(element, "ParticipantObjectIDTypeCode", id_type)
    if query is not None:
        ET.SubElement(element, "ParticipantObjectQuery").text = query
    else:
        ET.SubElement(element, "ParticipantObjectName").text = name or object_id or "-"
    for detail_type, value in (details or {}).items():
        ET.SubElement(element, "ParticipantObjectDetail", {"type": detail_type, "value": _b64(value)})
    if description is not None:
        element.append(description)


def _description(*, mpps: str = "", accession: str = "", sop_classes: dict | None = None, instances=None):
    description = ET.Element("ParticipantObjectDescription")
    if mpps:
        ET.SubElement(description, "MPPS", {"UID": mpps})
    if accession:
        ET.SubElement(description, "Accession", {"Number": accession})
    if sop_classes:
        for uid, count in sop_classes.items():
            ET.SubElement(description, "SOPClass", {"UID": uid, "NumberOfInstances": str(count)})
    elif instances is not None:
        ET.SubElement(description, "SOPClass", {"NumberOfInstances": str(instances)})
    return description if len(description) else None


def _broker_code(name: str, meaning: str) -> tuple:
    return (name, events.BROKER_CODES, meaning)


def _objects(message, event: dict) -> None:
    for patient_id in event["patient_ids"]:
        _object(message, patient_id, PATIENT_NUMBER, type_code="1", role="1")
    for ref in event["object_refs"]:
        kind = ref.get("type", "")
        if kind == "study":
            _object(message, ref["uid"], STUDY_INSTANCE_UID, role="3", name=ref.get("accession") or ref["uid"],
                    description=_description(accession=ref.get("accession", ""), sop_classes=ref.get("sop_classes"),
                                             instances=ref.get("instances")))
        elif kind == "mpps":
            if ref.get("study_instance_uid"):
                _object(message, ref["study_instance_uid"], STUDY_INSTANCE_UID, role="3",
                        description=_description(mpps=ref["uid"], accession=ref.get("accession_number", "")))
            else:
                _object(message, ref.get("uid", ""), _broker_code("MPPS", "MPPS SOP Instance UID"), role="3",
                        description=_description(mpps=ref.get("uid", "")))
        elif kind == "query":
            # The identifier as received (Explicit VR Little Endian), or the keys' summary if it was not encodable.
            _object(message, ref.get("sop_class_uid", ""), SOP_CLASS_UID, role="24",
                    query=ref.get("dataset") or _b64(ref.get("keys", "")),
                    details={"TransferSyntax": "1.2.840.10008.1.2.1", "QueryLogID": str(ref.get("id", ""))}
                    if ref.get("dataset") else {"QueryLogID": str(ref.get("id", ""))})
        elif kind == "order":
            accession = ref.get("accession", "")
            _object(message, accession or ref.get("placer", "") or str(ref.get("id", "")),
                    _broker_code("ORDER", "Imaging order (accession number)"), role="3",
                    description=_description(accession=accession))
        elif kind == "hl7":
            _object(message, ref.get("control_id", "") or str(ref.get("id", "")),
                    _broker_code("HL7", "HL7 message control ID (MSH-10)"), name=ref.get("message_type", ""),
                    details={"HL7LogID": str(ref.get("id", ""))})
        elif kind == "destination":
            continue  # an active participant (the receiving AE), not an object
        elif kind == "audit_log":  # Audit Log Used (A.5.3.2): the log read, a system object in the role security resource
            _object(message, ref.get("uri", ""), URI, role="13", name="Security Audit Log")
        elif "." in kind:  # a configuration or record row changed in the admin: app_label.model
            _object(message, str(ref.get("id", "")), _broker_code(kind, f"Broker record {kind}"), role="13",
                    name=ref.get("name", ""), details=_changes(event["detail"]))
        else:  # a queue row a dashboard action worked on (routing_job, ris_notification, …)
            _object(message, str(ref.get("id", "")), _broker_code(kind, kind.replace("_", " ")), role="20")


def _changes(detail: dict) -> dict:
    return {side: json.dumps(detail[side], sort_keys=True, ensure_ascii=False) for side in ("before", "after")
            if detail.get(side)}


def _outcome_description(event: dict) -> str:
    detail = event["detail"]
    for key in ("refusal", "reason", "problem", "error", "error_comment"):
        if detail.get(key):
            return str(detail[key])
    if detail.get("error_code"):
        return f"{detail.get('ack', '')} {detail['error_code']} at {detail.get('error_location', '')}".strip()
    if detail.get("action_name"):
        return str(detail["action_name"])
    return ""


def audit_message(event: dict, source: AuditSource) -> ET.Element:
    kind = events.CATALOGUE[event["kind"]]
    message = ET.Element("AuditMessage")
    identification = ET.SubElement(message, "EventIdentification", {
        "EventActionCode": events.action_of(kind, event["detail"]),
        "EventDateTime": event["time"].isoformat(),
        "EventOutcomeIndicator": str(event["outcome"]),
    })
    _code(identification, "EventID", kind.event_id)
    if kind.type_code is not None:
        _code(identification, "EventTypeCode", kind.type_code)
    description = _outcome_description(event)
    if description:
        ET.SubElement(identification, "EventOutcomeDescription").text = description
    _participants(message, event, source)
    audit_source = {"AuditSourceID": source.source_id}
    if source.site:
        audit_source["AuditEnterpriseSiteID"] = source.site
    ET.SubElement(ET.SubElement(message, "AuditSourceIdentification", audit_source), "AuditSourceTypeCode",
                  {"csd-code": APPLICATION_SERVER})
    _objects(message, event)
    return message


def to_xml(event: dict, source: AuditSource) -> str:
    return ET.tostring(audit_message(event, source), encoding="unicode")
