"""HL7 intake: parse one message, apply it in one transaction, log it, build its ACK.

`receive(raw, peer)` is what the MLLP listener and the dashboard's replay call. AA is built only for a
message whose changes and log row are in the same committed transaction; everything else is answered
AE or AR (see broker.hl7.outcomes) and still logged. With BROKER_HL7_REQUIRE_KNOWN_SENDER on, a message
from the network is first checked against the sender rules (broker.hl7.senders).
"""
import hashlib
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from broker.core.hl7v2 import charsets
from broker.hl7 import auditing, lookups, outcomes, parser, senders
from broker.hl7.ack import AckError, build_ack, encode_ack
from broker.hl7.content_keys import content_keys
from broker.hl7.models import HL7Message
from worklist import orders, patients
from worklist.hl7map import adt
from worklist.hl7map.errors import BadValue, Location, MappingError, MappingWarning, RequiredFieldMissing
from worklist.hl7map.orders import map_order_message

log = logging.getLogger("broker.hl7.intake")

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")
PROCESSING_IDS = ("P", "T", "D")
EXCERPT_BYTES = 64 * 1024


@dataclass
class Receipt:
    ack: bytes  # the ACK payload, unframed
    message: HL7Message  # the log row (unsaved only when the database itself could not be reached)


@dataclass(frozen=True)
class Handler:
    map: object  # (message, tz, preferred_issuer) -> mapped values
    apply: object  # mapped values -> worklist.orders.Applied
    # (mapped values, log row) -> True when applied and stored with the log row in one statement, committed
    place: object = staticmethod(lambda mapped, row: False)


def _apply_orders(mapped) -> orders.Applied:
    return orders.apply_order_message(mapped)  # new orders are written with the log row (orders.write)


def _apply_update(mapped) -> orders.Applied:
    return orders.Applied(patients.apply_patient_update(mapped).pk, None)


def _apply_merge(mapped) -> orders.Applied:
    return orders.Applied(patients.merge_patients(mapped).pk, None)


_ORDERS = Handler(lambda m, tz, issuer: map_order_message(m, tz, issuer), _apply_orders,
                  lambda mapped, row: orders.place_new_orders(mapped, also=[row]))
HANDLERS = {
    ("ORM", "O01"): _ORDERS,
    ("OMI", "O23"): _ORDERS,
    **{("ADT", event): Handler(lambda m, tz, issuer, e=event: adt.map_patient_update(m, e, issuer), _apply_update)
       for event in sorted(adt.UPDATE_EVENTS)},
    ("ADT", "A40"): Handler(lambda m, tz, issuer: adt.map_patient_merge(m, issuer), _apply_merge),
}
MESSAGE_CODES = {code for code, _ in HANDLERS}


def dedupe_key(header: parser.Header, raw: bytes) -> str | None:
    """Sender, control ID and content: a resend is the same message; a reused control ID is not.

    The content is the raw message with MSH-7 (the time of sending, which a resend may renew) blanked and
    trailing segment terminators dropped; every other byte counts."""
    if not header.control_id:
        return None
    identity = "\x1f".join((header.sending_application, header.sending_facility, header.control_id))
    digest = hashlib.sha256(identity.encode("utf-8", "replace"))
    digest.update(b"\x1e")
    digest.update(content_for_key(raw, header))
    return digest.hexdigest()


def content_for_key(raw: bytes, header: parser.Header) -> bytes:
    body = raw.strip(b"\r\n\t ")
    end = min((p for p in (body.find(b"\r"), body.find(b"\n")) if p >= 0), default=len(body))
    sep = header.field_sep.encode("latin-1")
    fields = body[:end].split(sep)
    if len(fields) > 6:
        fields[6] = b""  # MSH-7 (fields[0] is "MSH", fields[1] MSH-2)
    return sep.join(fields) + body[end:]


def _reused_control_id(header: parser.Header, key: str) -> int | None:
    """The id of the accepted message that had this sender and control ID with other content, if any."""
    return lookups.reused_control_id(_text(header.sending_application)[:200], _text(header.sending_facility)[:200],
                                     _text(header.control_id)[:200], key)


def receive(raw: bytes, peer: str = "", *, check_sender: bool = True) -> Receipt:
    """`check_sender=False` for a message staff replay from the log (they are the sender then)."""
    started = time.perf_counter()
    try:
        header = parser.read_header(raw)
    except parser.NotHL7 as exc:
        return _refuse(raw, peer, None, outcomes.NotHL7Message(str(exc), Location("MSH")), started)
    if check_sender and settings.BROKER_HL7_REQUIRE_KNOWN_SENDER:
        try:
            senders.check_sender(peer, header)
        except Exception as exc:  # noqa: BLE001 - refused (AR), or the rules could not be read (AE): never applied
            return _refuse(raw, peer, header, exc, started)
    # A repeat of an accepted message (same sender, MSH-10 and content but MSH-7) is caught by the unique
    # accepted_key of its log row (or earlier, by its order's keys): the transaction that tried to apply it
    # again rolls back, and the except branch answers with the earlier ACK.
    key = dedupe_key(header, raw)
    try:
        _check_supported(header)
        try:
            text = parser.decode(raw, header)
        except parser.CharsetError as exc:
            kind = outcomes.UnsupportedCharset if exc.unsupported else outcomes.UndecodableText
            raise kind(str(exc), Location("MSH", 1, 18)) from exc
        _check_no_nul(text, header)
        message = parser.Message(text, header)
        handler = HANDLERS[(header.message_code, header.trigger_event)]
        # The department's zone (Django's TIME_ZONE, from BROKER_TIME_ZONE) reads times sent without an offset.
        mapped = handler.map(message, timezone.get_default_timezone(), settings.BROKER_HL7_PATIENT_ID_ISSUER)
        warnings = getattr(mapped, "warnings", ())
        ack_text = build_ack(header, "AA", warnings=tuple(_ack_warning(w) for w in warnings))
        row = _row(raw, peer, header, message)
        row.outcome, row.ack, row.accepted_key = HL7Message.Outcome.ACCEPTED, ack_text, key
        if warnings:
            row.error_text = "\n".join(f"warning: {w.message}" for w in warnings)
            row.error_location = str(warnings[0].location)[:32]
            for warning in warnings:
                log.warning("%s %s from %s accepted with a warning at %s: %s", header.message_type,
                            header.control_id, peer, warning.location, warning.message)
        reused = _reused_control_id(header, key)
        if reused is not None:
            row.reuses_control_id_of_id = reused
            reuse = (f"control ID reused: message #{reused} from the same sender had MSH-10 "
                     f"{_text(header.control_id)!r} with other content; processed as a new message")
            row.error_text = f"{row.error_text}\n{reuse}" if row.error_text else reuse
            log.warning("control ID %s from %s|%s reused with other content (earlier message #%s); processed as new",
                        header.control_id, header.sending_application, header.sending_facility, reused)
        row.processing_ms = (time.perf_counter() - started) * 1000
        # New orders on PostgreSQL: one statement, one round trip, its own commit. Everything else (and what
        # that statement leaves to it) in a transaction here. With auditing, one transaction holds the audit
        # event too (the statement then runs in a savepoint).
        with transaction.atomic() if settings.BROKER_AUDIT else nullcontext():
            if not handler.place(mapped, row):
                with transaction.atomic():
                    applied = handler.apply(mapped)
                    row.processing_ms = (time.perf_counter() - started) * 1000
                    orders.write(applied, also=[row])  # sets row.patient_id/order_id; one statement with new orders' rows
            auditing.applied(mapped, row)
    except Exception as exc:  # noqa: BLE001 - every failure becomes an AE/AR answer and a log row
        if key and not isinstance(exc, outcomes.Rejected):
            # The same message accepted on another connection while this one worked (its order then exists,
            # or its log row's key collides): answer as that one was answered.
            try:
                earlier = HL7Message.objects.filter(accepted_key=key).first()
            except Exception:  # noqa: BLE001 - the database is gone; _refuse answers AE
                earlier = None
            if earlier is not None:
                return _repeat(raw, peer, header, earlier, started)
        return _refuse(raw, peer, header, exc, started)
    log.debug("accepted %s %s from %s in %.1f ms", header.message_type, header.control_id, peer, row.processing_ms)
    return Receipt(encode_ack(ack_text, charsets.ack_codec(header.charset)), row)


def _ack_warning(warning: MappingWarning) -> AckError:
    """ERR-3 0 (message accepted) with ERR-4 W: applied as the text says; ERR-2 where the value was."""
    where = warning.location
    return AckError("0", warning.message, where.segment, where.sequence, where.field, where.component, severity="W")


def _check_supported(header: parser.Header) -> None:
    if header.message_code not in MESSAGE_CODES:
        raise outcomes.UnsupportedMessageType(
            f"Message type {header.message_type or '(empty)'} is not supported; the broker takes "
            f"ORM^O01, OMI^O23 and ADT^A01/A04/A05/A08/A31/A40", Location("MSH", 1, 9, 1))
    if (header.message_code, header.trigger_event) not in HANDLERS:
        raise outcomes.UnsupportedEvent(f"Trigger event {header.trigger_event or '(empty)'} of "
                                        f"{header.message_code} is not supported", Location("MSH", 1, 9, 2))
    if header.processing_id not in PROCESSING_IDS:
        raise outcomes.UnsupportedProcessingId(f"Processing ID {header.processing_id!r} is not P, T or D",
                                               Location("MSH", 1, 11))
    if not header.control_id:  # without MSH-10 a resend cannot be recognised, nor the ACK matched by the sender
        raise RequiredFieldMissing("Message control ID (MSH-10) is empty", Location("MSH", 1, 10))
    if header.version not in SUPPORTED_VERSIONS:
        raise outcomes.UnsupportedVersion(f"HL7 version {header.version or '(empty)'} is not supported; "
                                          f"2.3 to 2.8 are", Location("MSH", 1, 12))


def _check_no_nul(text: str, header: parser.Header) -> None:
    """A NUL character is a permanent input error on every database (PostgreSQL text cannot even hold one)."""
    where = parser.locate_nul(text, header)
    if where is not None:
        location = Location(*where)
        raise BadValue(f"{location} holds a NUL character (0x00), which no HL7 data type admits", location)


def _text(value: str) -> str:
    return value.replace("\x00", "") if "\x00" in value else value


def _row(raw: bytes, peer: str, header: parser.Header | None, message: parser.Message | None = None) -> HL7Message:
    excerpt = raw if len(raw) <= settings.BROKER_HL7_MAX_MESSAGE_BYTES else raw[:EXCERPT_BYTES]
    values = {}
    if header is not None:
        # NUL would make the row itself unstorable on PostgreSQL: the log row keeps the rest (raw keeps all)
        values.update(sending_application=_text(header.sending_application)[:200],
                      sending_facility=_text(header.sending_facility)[:200], control_id=_text(header.control_id)[:200],
                      message_type=_text(header.message_type)[:32], version=_text(header.version)[:16],
                      charset=_text(header.charset)[:32])
    if message is not None:
        orc = message.first("ORC")
        values["order_control"] = orc.get(1)[:8] if orc is not None else ""
    keys = content_keys(raw)
    return HL7Message(peer=peer[:100], raw=excerpt, raw_size=len(raw), content_patient_id=keys.patient_id,
                      content_accession=keys.accession_number, **values)


def _repeat(raw: bytes, peer: str, header: parser.Header, earlier: HL7Message, started: float) -> Receipt:
    """A message accepted before: the same ACK bytes again, nothing applied twice."""
    row = _row(raw, peer, header)
    row.outcome, row.ack, row.duplicate_of_id = HL7Message.Outcome.ACCEPTED, earlier.ack, earlier.pk
    row.patient_id, row.order_id = earlier.patient_id, earlier.order_id
    row.error_text = f"repeat of message #{earlier.pk}: answered with its ACK, not applied again"
    row.processing_ms = (time.perf_counter() - started) * 1000
    row.save(force_insert=True)
    log.info("repeated %s %s from %s: same ACK as message #%s", header.message_type, header.control_id, peer, earlier.pk)
    return Receipt(encode_ack(earlier.ack, charsets.ack_codec(earlier.charset)), row)


def _refuse(raw: bytes, peer: str, header: parser.Header | None, exc: BaseException, started: float) -> Receipt:
    ack_code, error_code = outcomes.ack_code_for(exc)
    location = getattr(exc, "location", Location())
    text = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    error = AckError(error_code, text, location.segment, location.sequence, location.field, location.component)
    ack_text = build_ack(header, ack_code, error)
    row = _row(raw, peer, header)
    row.outcome, row.error_code, row.error_text = ack_code, error_code, text
    row.sender_refused = isinstance(exc, outcomes.UnknownSender)
    row.error_location, row.ack = str(location)[:32], _text(ack_text)
    row.processing_ms = (time.perf_counter() - started) * 1000
    expected = isinstance(exc, (MappingError, outcomes.Rejected))
    log.log(logging.WARNING if expected else logging.ERROR, "%s %s %s from %s: %s %s", ack_code,
            header.message_type if header else "(no MSH)", header.control_id if header else "", peer,
            error_code, text, exc_info=None if expected else exc)
    try:
        with transaction.atomic():
            row.save(force_insert=True)
            auditing.refused(row)
    except Exception:  # noqa: BLE001 - the database is gone: still answer (AE), never AA
        log.exception("could not store the log row of a refused message from %s", peer)
    codec = charsets.ack_codec(header.charset) if header else "ascii"
    return Receipt(encode_ack(ack_text, codec), row)


def record_unframed(data: bytes, peer: str, reason: str, size: int | None = None) -> HL7Message | None:
    """Log bytes that never became a message (garbage outside frames, an unfinished or oversized frame)."""
    keys = content_keys(data)
    row = HL7Message(peer=peer[:100], raw=data[:EXCERPT_BYTES], raw_size=size if size is not None else len(data),
                     outcome=HL7Message.Outcome.REJECTED, error_code="100", error_text=reason,
                     content_patient_id=keys.patient_id, content_accession=keys.accession_number)
    try:
        header = parser.read_header(data)
    except parser.NotHL7:
        header = None
    if header is not None:
        row.sending_application = _text(header.sending_application)[:200]
        row.sending_facility = _text(header.sending_facility)[:200]
        row.control_id, row.message_type = _text(header.control_id)[:200], _text(header.message_type)[:32]
    log.warning("connection %s: %s (%d bytes)", peer, reason, row.raw_size)
    try:
        row.save(force_insert=True)
    except Exception:  # noqa: BLE001
        log.exception("could not store the record of unframed bytes from %s", peer)
        return None
    return row
