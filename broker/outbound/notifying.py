"""RIS notification: one stored HL7 status message sent over MLLP (with TLS when the endpoint says so), its ACK
read and kept."""
from broker.core.hl7v2.mllp import MLLPClient
from broker.core.work_queue import Outcome
from broker.outbound import tls
from broker.outbound.hl7_status import encode, read_ack
from broker.outbound.models import RIS_NOTIFICATIONS


def attempt(notification) -> tuple[str, dict]:
    """One try: ("", the ACK) when the RIS accepted it, else (what went wrong, the ACK if any)."""
    endpoint = notification.endpoint
    reply = b""
    context = None
    try:
        context = tls.client_context(endpoint, "RIS endpoint", "the RIS")
        with MLLPClient(endpoint.host, endpoint.port, timeout=endpoint.timeout_seconds, ssl_context=context) as client:
            reply = client.send(encode(notification.message))
        reading = read_ack(reply, notification.control_id)
        error = "" if reading.accepted else f"RIS answered {reading.code}: {reading.text}".strip()
    except tls.PeerTLSConfigurationError as exc:  # retried like any failure: the administrator fixes the file
        error = str(exc)
    except Exception as exc:  # refused, reset, timed out: the RIS is away; try again later
        error = tls.failed(context, f"{endpoint.host}:{endpoint.port}") or (
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    ack = reply.decode("utf-8", errors="replace")
    return error, ({"ack": ack} if error else {"ack": ack, "last_error": ""})


def deliver(notification_id: int) -> Outcome:
    return RIS_NOTIFICATIONS.deliver(notification_id, attempt)
