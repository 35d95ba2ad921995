"""People's log-in, failed log-in, log-out and lock-out, from Django's auth signals and django-axes."""
from django.contrib.auth import signals as auth_signals

from broker.audit import events
from broker.audit.models import AuditEvent
from broker.audit.trail import record


def _address(request) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def logged_in(sender, request, user, **kwargs):
    record(events.LOGIN, user=user, address=_address(request))


def logged_out(sender, request, user, **kwargs):
    if user is not None:  # a log-out without a session is no event
        record(events.LOGOUT, user=user, address=_address(request))


def login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the user name tried is kept.
    record(events.LOGIN_FAILED, outcome=AuditEvent.Outcome.MINOR_FAILURE, user=credentials.get("username", ""),
           address=_address(request))


def locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    record(events.LOCKED_OUT, outcome=AuditEvent.Outcome.SERIOUS_FAILURE, user=username or "",
           address=ip_address or _address(request))


def connect() -> None:
    from axes.signals import user_locked_out  # axes reads its settings at import: only once the apps are ready

    auth_signals.user_logged_in.connect(logged_in, dispatch_uid="audit_logged_in")
    auth_signals.user_logged_out.connect(logged_out, dispatch_uid="audit_logged_out")
    auth_signals.user_login_failed.connect(login_failed, dispatch_uid="audit_login_failed")
    user_locked_out.connect(locked_out, dispatch_uid="audit_locked_out")
