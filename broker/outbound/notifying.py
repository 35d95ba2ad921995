"""RIS notification: one stored HL7 status message sent over MLLP, its ACK read and kept."""
import logging

from broker.hl7.mllp import MLLPClient
from broker.outbound.forwarding import Outcome
from broker.outbound.hl7_status import encode, read_ack
from broker.outbound.models import RIS_NOTIFICATIONS

log = logging.getLogger(__name__)


def deliver(notification_id: int) -> Outcome:
    notification = RIS_NOTIFICATIONS.claim(notification_id)
    if notification is None:
        return Outcome()
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
    if not error:
        RIS_NOTIFICATIONS.finish(notification, ack=ack, last_error="")
        log.info("RIS %s told %s for order %s (attempt %s)", endpoint.name, notification.event,
                 notification.order_id, notification.attempts)
        following = RIS_NOTIFICATIONS.next_in_lane(notification)
        return Outcome(sent=True, next_id=following.pk if following else None)
    retry_in = RIS_NOTIFICATIONS.fail(notification, error, ack=ack)
    log.warning("RIS %s not told %s for order %s (attempt %s): %s; next try in %s s", endpoint.name,
                notification.event, notification.order_id, notification.attempts, error, retry_in)
    return Outcome(retry_in=retry_in)
