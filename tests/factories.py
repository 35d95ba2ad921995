"""Worklist actors built in code for tests: a patient, an order, its procedure and steps."""
import itertools
from datetime import datetime, timedelta

from django.utils import timezone
from pydicom.uid import generate_uid

from worklist.models import ImagingOrder, Patient, RequestedProcedure, ScheduledProcedureStep

_counter = itertools.count(1)


def make_patient(**fields) -> Patient:
    n = next(_counter)
    values = {"patient_id": f"PID{n:06d}", "issuer_of_patient_id": "HOSP", "name": f"DOE^JOHN{n}",
              "birth_date": datetime(1970, 1, 1).date(), "sex": "M"}
    values.update(fields)
    return Patient.objects.create(**values)


def make_order(patient: Patient | None = None, **fields) -> ImagingOrder:
    n = next(_counter)
    values = {"patient": patient or make_patient(), "placer_order_number": f"PL{n:06d}",
              "filler_order_number": f"FL{n:06d}", "accession_number": f"ACC{n:06d}",
              "referring_physician_name": "WELBY^MARCUS", "sending_application": "RIS", "hl7_version": "2.5.1"}
    values.update(fields)
    return ImagingOrder.objects.create(**values)


def make_procedure(order: ImagingOrder | None = None, **fields) -> RequestedProcedure:
    n = next(_counter)
    values = {"order": order or make_order(), "requested_procedure_id": f"RP{n:06d}",
              "description": "CT HEAD W/O CONTRAST", "code_value": "CTHEAD", "code_scheme": "99LOCAL",
              "code_meaning": "CT head without contrast", "study_instance_uid": generate_uid()}
    values.update(fields)
    return RequestedProcedure.objects.create(**values)


def make_step(procedure: RequestedProcedure | None = None, **fields) -> ScheduledProcedureStep:
    """A SCHEDULED CT step on station CT01 starting in an hour, unless fields say otherwise."""
    n = next(_counter)
    values = {"requested_procedure": procedure or make_procedure(), "sps_id": f"SPS{n:06d}", "modality": "CT",
              "station_ae_title": "CT01", "station_name": "CT ROOM 1", "location": "RAD1",
              "start": timezone.now() + timedelta(hours=1), "description": "CT HEAD",
              "protocol_codes": [{"value": "P1", "scheme": "99LOCAL", "meaning": "Head routine"}]}
    values.update(fields)
    return ScheduledProcedureStep.objects.create(**values)
