"""Helpers of the audit tests: the events of one kind, the chain verified through the command."""
import io

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
