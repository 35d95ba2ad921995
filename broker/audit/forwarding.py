"""Sending the audit trail to an audit repository by syslog (IHE ATNA ITI-20): the one sending module.

`trail.record` writes an `AuditForward` row with each event when BROKER_AUDIT_SYSLOG is set and enqueues its task
on commit; `deliver(pk)` claims the row (in event order: one lane per target), formats the event's DICOM audit
message as RFC 5424 syslog and writes it on a new connection: TLS (RFC 5425, mutual, the repository's certificate
checked against BROKER_AUDIT_SYSLOG_CA_FILE and its host name), plain TCP (RFC 6587) or UDP (RFC 5426: one
datagram, taken as sent once written, as UDP cannot tell). Errors stay on the row, retried with the queue's backoff.
"""
import logging
import os
import socket
import ssl

from django.conf import settings
from django.db import transaction

from broker.audit import syslog
from broker.audit.dicom_xml import to_xml
from broker.audit.export import broker_source, event_values
from broker.audit.models import AUDIT_FORWARDS, AuditEvent, AuditForward
from broker.core import tls
from broker.core.work_queue import Outcome, WorkState

log = logging.getLogger(__name__)

TLS_NAMES = ("BROKER_AUDIT_SYSLOG_CA_FILE", "BROKER_AUDIT_SYSLOG_CERT_FILE", "BROKER_AUDIT_SYSLOG_KEY_FILE")
PEER = "the audit repository"
CLOSE_WAIT_SECONDS = 1.0  # how long the repository's close_notify (or its refusal) is waited for


class NotSendable(Exception):
    """The configuration does not allow sending (no client certificate for TLS, a message too large for UDP)."""


def payload_of(event: AuditEvent) -> bytes:
    return syslog.message(outcome=event.outcome, time=event.time, hostname=socket.gethostname(),
                          procid=str(os.getpid()), xml=to_xml(event_values(event), broker_source()))


def tls_context() -> ssl.SSLContext:
    ca_file, cert_file, key_file = (getattr(settings, name) for name in TLS_NAMES)
    if not (cert_file and key_file):
        raise NotSendable(f"{TLS_NAMES[1]} and {TLS_NAMES[2]} must be set: IHE ATNA requires mutual TLS, the "
                          "broker presents its certificate to the audit repository")
    if not ca_file:
        raise NotSendable(f"{TLS_NAMES[0]} must be set: the CA that signed the audit repository's certificate")
    try:
        return tls.client_context(ca_file, cert_file, key_file, names=TLS_NAMES)
    except tls.TLSConfigurationError as exc:
        raise NotSendable(str(exc)) from exc


def _tls_refusal(exc: OSError, target: syslog.Target, *, handshake: bool) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = (exc.verify_message or str(exc)).rstrip(".")
        return (f"{target}: certificate verification failed: {reason} (is the audit repository's certificate "
                f"signed by the CA in {TLS_NAMES[0]}, valid today, and issued for {target.host}?)")
    return f"{target}: " + tls.describe(exc, handshake=handshake, peer=PEER, client_certificate=True).replace(
        "tls_ca_file", TLS_NAMES[0]).replace("tls_cert_file", TLS_NAMES[1]).replace("tls_key_file", TLS_NAMES[2])


def send(payload: bytes, target: syslog.Target) -> None:
    """Write one framed message; raises OSError (or NotSendable) when it could not be written."""
    timeout = settings.BROKER_AUDIT_SYSLOG_TIMEOUT
    if target.transport == "udp":
        if len(payload) > syslog.MAX_DATAGRAM:
            raise NotSendable(f"the message has {len(payload)} octets, more than one UDP datagram carries "
                              f"({syslog.MAX_DATAGRAM}): use tls:// or tcp://")
        family, kind, proto, _, address = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            sock.sendto(syslog.frame(payload, "udp"), address)
        return
    context = tls_context() if target.transport == "tls" else None
    with socket.create_connection((target.host, target.port), timeout=timeout) as raw:
        if context is None:
            raw.sendall(syslog.frame(payload, "tcp"))
            raw.shutdown(socket.SHUT_WR)
            return
        session = _TLSSession(raw, context, target.host)
        try:
            session.run(session.tls.do_handshake)
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            raise ConnectionError(_tls_refusal(exc, target, handshake=True)) from exc
        try:
            session.run(lambda: session.tls.write(syslog.frame(payload, "tls")))
            session.close()
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            raise ConnectionError(_tls_refusal(exc, target, handshake=False)) from exc


class _TLSSession:
    """TLS over the connection through memory buffers: the broker sees every byte the repository sends, so it can
    tell a close_notify reply from a bare close (`ssl.SSLSocket.unwrap` cannot)."""

    def __init__(self, raw: socket.socket, context: ssl.SSLContext, host: str):
        self.raw, self.incoming, self.outgoing = raw, ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=host)
        self.closed_by_peer = False

    def _flush(self) -> None:
        if pending := self.outgoing.read():
            self.raw.sendall(pending)

    def _read(self) -> None:
        data = self.raw.recv(65536)
        if data:
            self.incoming.write(data)
        else:
            self.closed_by_peer = True
            self.incoming.write_eof()

    def run(self, operation):
        """Run a TLS operation to its end, moving bytes each way as it asks (bounded by the socket's timeout)."""
        while True:
            try:
                result = operation()
            except ssl.SSLWantReadError:
                self._flush()
                if self.closed_by_peer:
                    raise ssl.SSLEOFError("the repository closed the connection") from None
                self._read()
                continue
            finally:
                try:
                    self._flush()
                except OSError:
                    pass  # the alert of a failed handshake cannot be sent: the error that follows says enough
            return result

    def close(self) -> None:
        """close_notify, and the repository's reply, which RFC 5425 4.4 requires of it: a repository that refused
        the broker's certificate (TLS 1.3 says so only after the handshake) answers with an alert or a bare close,
        and the attempt fails; no answer within a second (a repository keeping the connection open) counts as
        written."""
        self.raw.settimeout(min(settings.BROKER_AUDIT_SYSLOG_TIMEOUT, CLOSE_WAIT_SECONDS))
        try:
            self.run(self.tls.unwrap)
        except TimeoutError:
            return
        # unwrap() may end without raising a fatal alert that came with the peer's close; reading shows it.
        try:
            self.tls.read(1)
        except ssl.SSLZeroReturnError:
            pass  # the repository's close_notify: it has the message
        except ssl.SSLWantReadError:
            pass
        if self.closed_by_peer:
            raise ssl.SSLEOFError("the repository closed the connection without answering close_notify")


def attempt(forward: AuditForward) -> tuple[str, dict]:
    try:
        target = syslog.parse_target(forward.target)
        send(payload_of(forward.event), target)
    except (NotSendable, syslog.BadTarget) as exc:  # retried too: the administrator fixes the setting
        return str(exc), {}
    except OSError as exc:
        text = str(exc) or type(exc).__name__
        return (text if text.startswith(f"{forward.target}") else f"{forward.target}: {type(exc).__name__}: {text}"), {}
    return "", {}


def deliver(forward_id: int) -> Outcome:
    return AUDIT_FORWARDS.deliver(forward_id, attempt)


def queue(event: AuditEvent) -> AuditForward | None:
    """In the event's transaction: its outbox row, sent once the transaction commits (the sweep sends it otherwise)."""
    if not settings.BROKER_AUDIT_SYSLOG:
        return None
    forward = AuditForward.objects.create(event=event, target=settings.BROKER_AUDIT_SYSLOG)
    enqueue_on_commit(forward.pk)
    return forward


def enqueue_on_commit(pk: int) -> None:
    from broker.audit import tasks  # the Celery task imports this module

    def send_task():
        try:
            tasks.forward_event.delay(pk)
        except Exception:
            log.exception("could not enqueue audit forward %s; the sweep will pick it up", pk)

    transaction.on_commit(send_task)


def retry(forward_id: int) -> bool:
    """The operator's retry: due now."""
    with transaction.atomic():
        changed = AuditForward.objects.filter(pk=forward_id, state__in=[
            WorkState.FAILED, WorkState.GAVE_UP, WorkState.PENDING]).update(state=WorkState.PENDING, next_attempt_at=None)
        if changed:
            enqueue_on_commit(forward_id)
    return bool(changed)


def give_up(forward_id: int) -> bool:
    """Stop trying this row (the repository will not have this event); the events behind it go on."""
    with transaction.atomic():
        changed = AuditForward.objects.filter(pk=forward_id, state__in=[
            WorkState.PENDING, WorkState.FAILED, WorkState.RUNNING]).update(state=WorkState.GAVE_UP, next_attempt_at=None)
        if changed:
            following = AUDIT_FORWARDS.next_in_lane(AuditForward.objects.get(pk=forward_id))
            if following is not None:
                enqueue_on_commit(following.pk)
    return bool(changed)
