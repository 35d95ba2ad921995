"""RIS notification: one stored HL7 status message sent over MLLP, its ACK read and kept."""
import logging

from broker.core.work_queue import Outcome
from broker.hl7.mllp import MLLPClient
from broker.outbound.hl7_status import encode, read_ack
from broker.outbound.models import RIS_NOTIFICATIONS

log = logging.getLogger(__name__)


def attempt(notification) -> tuple[str, dict]:
    """One try: ("", the ACK) when the RIS accepted it, else (what went wrong, the ACK if any)."""
    endpoint = notification.endpoint
    reply = b""
    try:
        with MLLPClient(endpoint.host, endpoint.port, timeout=endpoint.timeout_seconds) as client:
            reply = client.send(encode(notification.message))
        reading = read_ack(reply, notification.control_id)
        error = "" if reading.accepted else f"RIS answered {reading.code}: {reading.text}".strip()
    except Exception as exc:  # refused, reset, timed out: the RIS is away; try again later
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    ack = reply.decode("utf-8", errors="replace")
    return error, ({"ack": ack} if error else {"ack": ack, "last_error": ""})


def deliver(notification_id: int) -> Outcome:
    outcome = RIS_NOTIFICATIONS.deliver(notification_id, attempt)
    notification = outcome.row
    if notification is None:
        return outcome
    if outcome.sent:
        log.info("RIS %s told %s for order %s (attempt %s)", notification.endpoint.name, notification.event,
                 notification.order_id, notification.attempts)
    else:
        log.warning("RIS %s not told %s for order %s (attempt %s): %s; next try in %s s", notification.endpoint.name,
                    notification.event, notification.order_id, notification.attempts, outcome.error, outcome.retry_in)
    return outcome
