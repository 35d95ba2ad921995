"""Actors for the dashboard tests: staff users in each role, and rows of every app as the protocols leave them."""
import itertools
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone
from pydicom import Dataset
from pydicom.uid import generate_uid

from broker.dicom.models import WorklistQuery
from broker.hl7.models import HL7Message
from broker.outbound.models import MppsDestination, MppsForward, RisEndpoint, RisNotification
from broker.routing.models import Destination, RoutingJob, StoredInstance, Study
from mpps.models import PerformedProcedureStep
from tests.factories import make_order, make_procedure, make_step

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"


def make_user(role: str | None, **fields) -> User:
    """A staff member in one role (viewer, operator, administrator), or in none."""
    n = next(_counter)
    user = User.objects.create_user(username=fields.pop("username", f"{role or 'nobody'}{n}"), password=PASSWORD,
                                    is_staff=True, **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def orm_message(control_id: str = "", **fields) -> bytes:
    control_id = control_id or f"MSG{next(_counter):05d}"
    return ("MSH|^~\\&|RIS|HOSP|BROKER|RADIOLOGY|20260101120000||ORM^O01|" + control_id + "|P|2.3.1\r"
            "PID|1||PID0001^^^HOSP||DOE^JANE||19800101|F\r"
            "ORC|NW|PL0001|FL0001||SC\r"
            "OBR|1|PL0001|FL0001|CTHEAD^CT head^99LOCAL\r").encode()


def make_hl7_message(outcome: str = "AA", order=None, **fields) -> HL7Message:
    control_id = fields.pop("control_id", f"MSG{next(_counter):05d}")
    values = {"peer": "127.0.0.1:40000", "sending_application": "RIS", "sending_facility": "HOSP",
              "control_id": control_id, "message_type": "ORM^O01", "order_control": "NW", "version": "2.3.1",
              "raw": orm_message(control_id), "outcome": outcome,
              "ack": f"MSH|^~\\&|BROKER|RADIOLOGY|RIS|HOSP|20260101120001||ACK^O01|A{control_id}|P|2.3.1\rMSA|{outcome}|{control_id}",
              "processing_ms": 4.2, "order": order, "patient": order.patient if order else None}
    if outcome != "AA":
        values.update(error_code="204", error_text="Unknown procedure code CTXX")
        values["ack"] += "\rERR|^^^204&Unknown key identifier"
    values.update(fields)
    return HL7Message.objects.create(**values)


def worklist_identifier(**keys) -> dict:
    """A worklist C-FIND identifier as the listener logs it (pydicom JSON)."""
    ds = Dataset()
    ds.PatientName = keys.get("PatientName", "")
    ds.PatientID = keys.get("PatientID", "")
    ds.AccessionNumber = keys.get("AccessionNumber", "")
    item = Dataset()
    item.Modality = keys.get("Modality", "CT")
    item.ScheduledStationAETitle = keys.get("ScheduledStationAETitle", "CT01")
    item.ScheduledProcedureStepStartDate = keys.get("ScheduledProcedureStepStartDate", "")
    ds.ScheduledProcedureStepSequence = [item]
    return ds.to_json_dict()


def make_query(calling_ae: str = "CT01", match_count: int = 1, **fields) -> WorklistQuery:
    values = {"calling_ae": calling_ae, "peer": "127.0.0.1:50000", "identifier": worklist_identifier(ScheduledStationAETitle=calling_ae),
              "keys_summary": f"Modality=CT ScheduledStationAETitle={calling_ae}", "match_count": match_count,
              "duration_ms": 12.5, "status": 0}
    values.update(fields)
    return WorklistQuery.objects.create(**values)


def make_performed_step(steps=(), **fields) -> PerformedProcedureStep:
    values = {"sop_instance_uid": generate_uid(), "calling_ae": "CT01", "performed_station_ae_title": "CT01",
              "pps_id": f"PPS{next(_counter)}", "modality": "CT", "description": "CT HEAD", "reported_patient_id": "PID0001",
              "reported_patient_name": "DOE^JANE", "started_at": timezone.now(), "dataset": {}}
    values.update(fields)
    performed = PerformedProcedureStep.objects.create(**values)
    if steps:
        performed.scheduled_steps.set(steps)
    return performed


def make_study(order=None, instances: int = 2, **fields) -> Study:
    procedure = order.requested_procedures.first() if order else None
    values = {"study_instance_uid": procedure.study_instance_uid if procedure else generate_uid(),
              "patient_id": order.patient.patient_id if order else "PID0001", "patient_name": order.patient.name if order else "DOE^JANE",
              "accession_number": order.accession_number if order else "", "modalities": "CT", "calling_ae": "CT01",
              "order": order, "last_received_at": timezone.now()}
    values.update(fields)
    study = Study.objects.create(**values)
    series = generate_uid()
    for _ in range(instances):
        uid = generate_uid()
        StoredInstance.objects.create(study=study, series_instance_uid=series, sop_instance_uid=uid,
                                      sop_class_uid="1.2.840.10008.5.1.4.1.1.2", transfer_syntax_uid="1.2.840.10008.1.2.1",
                                      modality="CT", path=f"{study.study_instance_uid}/{uid}.dcm", size=524288, calling_ae="CT01")
    return study


def make_destination(**fields) -> Destination:
    n = next(_counter)
    values = {"name": f"PACS{n}", "ae_title": f"PACS{n}", "host": "127.0.0.1", "port": 11113}
    values.update(fields)
    return Destination.objects.create(**values)


def make_job(study=None, destination=None, state=RoutingJob.State.FAILED, **fields) -> RoutingJob:
    values = {"study": study or make_study(), "destination": destination or make_destination(), "state": state,
              "sent": 1, "total": 2, "attempts": 3}
    if state == RoutingJob.State.FAILED:
        values.update(last_error="Association rejected by PACS1: called AE title not recognised",
                      next_attempt_at=timezone.now() + timedelta(minutes=5))
    values.update(fields)
    return RoutingJob.objects.create(**values)


def make_notification(order=None, state="FAILED", **fields) -> RisNotification:
    endpoint = RisEndpoint.objects.get_or_create(name="RIS", defaults={"host": "127.0.0.1", "port": 2576})[0]
    values = {"endpoint": endpoint, "order": order or make_order(), "event": "CM", "message": "MSH|^~\\&|BROKER\rORC|SC",
              "control_id": f"N{next(_counter)}", "state": state, "attempts": 2,
              "last_error": "Connection refused" if state in ("FAILED", "GAVE_UP") else ""}
    values.update(fields)
    return RisNotification.objects.create(**values)


def make_forward(performed=None, state="FAILED", **fields) -> MppsForward:
    destination = MppsDestination.objects.get_or_create(name="MPPSMGR", defaults={"ae_title": "MPPSMGR", "host": "127.0.0.1", "port": 11114})[0]
    values = {"destination": destination, "performed_step": performed or make_performed_step(), "operation": "N-CREATE",
              "sequence": next(_counter), "state": state, "attempts": 1, "last_error": "Connection refused" if state != "SENT" else ""}
    values.update(fields)
    return MppsForward.objects.create(**values)


def scheduled_order(station: str = "CT01", start=None, **order_fields):
    """An order as intake leaves it: patient, order, one requested procedure, one scheduled step."""
    order = make_order(**order_fields)
    procedure = make_procedure(order=order)
    step = make_step(procedure=procedure, station_ae_title=station, start=start or timezone.now())
    return order, step


def page_urls():
    """Every read page, with the rows it needs created by the callable."""
    return {
        "worklist": lambda: reverse("dashboard:worklist"),
        "orders": lambda: reverse("dashboard:orders"),
        "order_detail": lambda: reverse("dashboard:order_detail", args=[scheduled_order()[0].pk]),
        "hl7": lambda: reverse("dashboard:hl7"),
        "hl7_detail": lambda: reverse("dashboard:hl7_detail", args=[make_hl7_message("AR").pk]),
        "routing": lambda: reverse("dashboard:routing"),
        "outbound": lambda: reverse("dashboard:outbound"),
        "queries": lambda: reverse("dashboard:queries"),
        "query_detail": lambda: reverse("dashboard:query_detail", args=[make_query().pk]),
        "mpps_detail": lambda: reverse("dashboard:mpps_detail", args=[make_performed_step().pk]),
        "problems": lambda: reverse("dashboard:problems"),
        "conformance": lambda: reverse("dashboard:conformance"),
        "audit": lambda: reverse("dashboard:audit"),
    }


# Pages only administrators may read (a viewer or operator gets 403); the role that reads each read page.
ADMINISTRATOR_PAGES = {"audit"}


def reader_of(page: str) -> str:
    return "administrator" if page in ADMINISTRATOR_PAGES else "viewer"
