"""Helpers of the audit tests: the events of one kind, the chain verified through the command."""
import io
from functools import lru_cache
from pathlib import Path

from django.core.management import call_command

from broker.audit.models import AuditEvent


def events_of(kind: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(kind=kind).order_by("id"))


def verify_output() -> tuple[int, str]:
    """`manage.py audit verify`: (exit status, what it printed)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", "verify", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), err.getvalue()
    return 0, out.getvalue()


SCHEMA = Path(__file__).resolve().parents[2] / "broker" / "audit" / "schema" / "audit-message.rng"


@lru_cache(maxsize=1)
def _schema():
    from lxml import etree  # the test's validator (requirements.txt); the broker writes XML with the standard library

    return etree.RelaxNG(etree.parse(str(SCHEMA)))


def valid_message(xml: str):
    """The DICOM audit message parsed, after checking it against the PS3.15 A.5.1 schema."""
    from lxml import etree

    document = etree.fromstring(xml.encode("utf-8"))
    schema = _schema()
    assert schema.validate(document), f"{schema.error_log}\n{xml}"
    return document


def message_of(event: AuditEvent):
    """The event's DICOM audit message, schema-checked."""
    from broker.audit.dicom_xml import to_xml
    from broker.audit.export import broker_source, event_values

    return valid_message(to_xml(event_values(event), broker_source()))


def coded(document, path: str) -> tuple[str, str, str]:
    element = document.find(path)
    return element.get("csd-code"), element.get("codeSystemName"), element.get("originalText")
