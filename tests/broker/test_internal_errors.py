"""The broker's own faults counted: a traceback in a listener shows in /metrics and on the problems page."""
import logging

import pytest
from django.urls import reverse
from pydicom import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from broker.dashboard import internal_errors
from broker.dashboard.models import InternalError
from tests.dashboard.support import make_user


def _find(port: int) -> list[int]:
    ae = AE(ae_title="CT01")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="BROKER")
    assert assoc.is_established
    identifier = Dataset()
    identifier.PatientName = ""
    identifier.PatientID = ""
    try:
        return [status.Status for status, _ in assoc.send_c_find(identifier, ModalityWorklistInformationFind)
                if status is not None and "Status" in status]
    finally:
        assoc.release()


def test_it_counts_a_listener_fault_in_metrics(client, dicom_port):
    statuses = _find(dicom_port)
    assert statuses and statuses[-1] >= 0xA700  # a failure status, never success
    assert internal_errors.recorder.flush()
    body = client.get(reverse("dashboard:metrics")).content.decode()
    assert 'broker_internal_errors_total{process="dicom",logger="broker.dicom"} 1' in body
    assert 'broker_internal_errors_total{process="hl7",logger="broker.hl7"} 0' in body


def test_it_shows_a_listener_fault_on_the_problems_page(client, dicom_port):
    _find(dicom_port)
    _find(dicom_port)
    assert internal_errors.recorder.flush()
    client.force_login(make_user("viewer"))
    page = client.get(reverse("dashboard:problems")).content.decode()
    assert "Internal errors" in page
    assert "builtins.RuntimeError" in page and "broker.dicom.services.mwl" in page
    assert "C-FIND from CT01 failed" in page
    row = InternalError.objects.get()
    assert (row.process, row.count) == ("dicom", 2)


def test_it_does_not_count_a_warning_or_a_foreign_logger(transactional_db, monkeypatch):
    monkeypatch.setattr(internal_errors, "PROCESS_KIND", "hl7")
    try:
        raise ValueError("a peer's bad input")
    except ValueError:
        logging.getLogger("broker.hl7.intake").warning("refused", exc_info=True)
        logging.getLogger("pynetdicom.assoc").exception("not ours")
        logging.getLogger("broker.hl7.intake").error("no traceback")
    assert internal_errors.recorder.flush()
    assert not InternalError.objects.exists()


@pytest.mark.parametrize("name, label", [
    ("broker.dicom.services.mwl", "broker.dicom"), ("broker.hl7.intake", "broker.hl7"), ("broker.celery", "broker"),
    ("worklist.mwl.query", "worklist"), ("mpps.journal", "mpps"), ("brokerage", None), ("pynetdicom", None),
    ("django.request", None), ("internal_errors", None),
])
def test_it_labels_loggers_from_a_fixed_set(name, label):
    assert internal_errors.logger_label(name) == label


@pytest.mark.parametrize("argv, kind", [
    (["manage.py", "rundicom", "--processes", "2"], "dicom"), (["manage.py", "runhl7"], "hl7"),
    (["manage.py", "runbroker"], "supervisor"), (["/venv/lib/python3.12/site-packages/celery/__main__.py", "-A"], "worker"),
    (["/venv/lib/python3.12/site-packages/gunicorn/__main__.py", "-c"], "web"), (["manage.py", "migrate"], None),
    ([], None),
])
def test_it_knows_the_process_kind_from_the_command_line(argv, kind):
    assert internal_errors.process_kind(argv) == kind


def test_it_keeps_the_count_while_the_database_is_away_and_writes_it_later(transactional_db, monkeypatch):
    from django.db import OperationalError

    monkeypatch.setattr(internal_errors, "PROCESS_KIND", "worker")
    monkeypatch.setattr(internal_errors, "RETRY_SECONDS", 0.2)
    real_upsert, failures = internal_errors._upsert, []

    def database_away_once(*args):
        if not failures:
            failures.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return real_upsert(*args)

    monkeypatch.setattr(internal_errors, "_upsert", database_away_once)
    try:
        raise KeyError("job")
    except KeyError:
        logging.getLogger("broker.routing.delivery").exception("routing job 7 failed unexpectedly")
    assert internal_errors.recorder.flush(timeout=20)
    assert failures and InternalError.objects.get().count == 1
