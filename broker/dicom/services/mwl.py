"""Modality Worklist C-FIND SCP: decode, ask the worklist (worklist.mwl), stream the answers, log the query."""
import logging

from django.conf import settings
from django.db import DatabaseError
from pydicom import Dataset
from pydicom.datadict import tag_for_keyword
from pynetdicom import evt
from pynetdicom.sop_class import ModalityWorklistInformationFind

from broker.core.dicom_net import pacing
from broker.core.dicom_net.association import is_connected
from broker.dicom import db_work, registry
from broker.dicom.error_comment import error_comment
from broker.dicom.identifier_check import IdentifierEncodingError, check_encoding
from broker.dicom.mwl_answers import encoder_for
from broker.dicom.query_log import QueryLogEntry
from worklist.mwl.budget import QueryTooExpensive
from worklist.mwl.charset import response_charset
from worklist.mwl.query import load_page, run_query
from worklist.mwl.response import build_response
from worklist.mwl.values import InvalidIdentifier

log = logging.getLogger(__name__)

SUPPORTED_CONTEXTS = [ModalityWorklistInformationFind]

PENDING = 0xFF00
PENDING_UNSUPPORTED_KEYS = 0xFF01  # matches continue; some optional keys were not matched
SUCCESS = 0x0000
CANCELED = 0xFE00


class UndecodableIdentifier(Exception):
    pass


class ServiceNotAllowed(Exception):
    pass


# One table: what went wrong → the C-FIND failure status the modality gets (PS3.4 Table K.4-1, PS3.7 C).
FAILURE_STATUS = [
    (ServiceNotAllowed, 0x0124),  # Refused: not authorized
    (InvalidIdentifier, 0xA900),  # Identifier does not match SOP Class
    (QueryTooExpensive, 0xC000),  # Unable to process: over BROKER_MWL_QUERY_BUDGET_SECONDS
    (UndecodableIdentifier, 0xC000),  # Unable to process
    (IdentifierEncodingError, 0xC000),  # Unable to process: the identifier's encoding is malformed
    (DatabaseError, 0xC100),  # Unable to process: the worklist database failed
    (Exception, 0xC000),
]


# Failures caused by what the peer sent or asked: a warning, no traceback.
PEER_FAULTS = (InvalidIdentifier, ServiceNotAllowed, UndecodableIdentifier, IdentifierEncodingError,
               QueryTooExpensive)


def failure_status(exc: Exception) -> Dataset:
    code = next(status for kind, status in FAILURE_STATUS if isinstance(exc, kind))
    status = Dataset()
    status.Status = code
    comment = getattr(exc, "comment", None) or str(exc) or type(exc).__name__
    status.ErrorComment = error_comment(comment)
    keyword = getattr(exc, "keyword", "")
    tag = tag_for_keyword(keyword.rsplit(">", 1)[-1].split(":")[0]) if keyword else None
    if tag is not None:
        status.OffendingElement = [tag]
    return status


def response_character_set(remote, identifier: Dataset) -> list[str]:
    """The calling AE's configured set, else the query's own, else BROKER_MWL_DEFAULT_CHARSET (worklist.mwl.charset)."""
    chosen = response_charset(remote.character_set if remote is not None else "",
                              identifier.get("SpecificCharacterSet"), settings.BROKER_MWL_DEFAULT_CHARSET)
    if chosen.refused:
        log.warning("unknown character set %r for %s; answering in %s", chosen.refused,
                    remote.ae_title if remote else "?", "\\".join(chosen.charsets))
    return chosen.charsets


def _check_bytes(event) -> None:
    transfer_syntax = event.context.transfer_syntax
    if transfer_syntax.is_deflated:
        return  # pydicom inflates it; the checks below read the bytes as they are
    check_encoding(event.request.Identifier.getvalue(), implicit=transfer_syntax.is_implicit_VR,
                   little=transfer_syntax.is_little_endian)


def _decode(event) -> Dataset:
    _check_bytes(event)
    try:
        identifier = event.identifier
        # Touch every element so bad bytes fail here, not halfway through the answer.
        for elem in identifier.iterall():
            elem.value  # noqa: B018  reading the value converts the raw bytes
        return identifier
    except Exception as exc:
        raise UndecodableIdentifier(f"identifier cannot be decoded: {exc}"[:64]) from exc


def _responder(identifier: Dataset, charsets: list[str], transfer_syntax):
    """step -> response Dataset: pre-encoded for this query's keys and transfer syntax where possible."""
    had_charset = "SpecificCharacterSet" in identifier
    encoder = encoder_for(identifier, charsets=charsets, request_had_charset=had_charset,
                          transfer_syntax=transfer_syntax)
    if encoder is not None:
        return encoder.response
    return lambda step: build_response(identifier, step, charsets=charsets, request_had_charset=had_charset)


def _answer_steps(result):
    """The answer's steps as they are sent: the first page at once, each later one from a database thread."""
    yield from result.first_page
    for page in result.later_pages():
        yield from db_work.run(load_page, result, page)


def _end_stalled(assoc, calling_ae: str, matches: int) -> None:
    if is_connected(assoc):
        log.warning("C-FIND from %s: the modality took nothing for %s s after %d response(s); association aborted",
                    calling_ae, settings.BROKER_MWL_SEND_TIMEOUT_SECONDS, matches)
        pacing.end_stalled(assoc)


def handle_find(event):
    calling_ae = registry.calling_ae_title(event.assoc)
    entry = QueryLogEntry(calling_ae, registry.peer_of(event.assoc))
    matches = 0
    try:
        identifier = _decode(event)
        entry.set_identifier(identifier)
        if not registry.allows(event.assoc, "mwl"):
            raise ServiceNotAllowed(f"AE {calling_ae} may not query the worklist")
        result = db_work.run(run_query, identifier, calling_ae=calling_ae, scope=registry.worklist_scope(event.assoc))
        entry.set_scope(result.scope, result.hidden)
        charsets = response_character_set(registry.remote_ae_of(event.assoc), identifier)
        pending = PENDING_UNSUPPORTED_KEYS if result.plan.unsupported else PENDING
        respond = _responder(identifier, charsets, event.context.transfer_syntax)
        pacer = pacing.Pacer(max_bytes=settings.BROKER_MWL_MAX_QUEUED_BYTES)
        if result.count > pacing.RESPONSES_PER_WAIT:
            pacing.limit_send_buffer(event.assoc, settings.BROKER_MWL_MAX_QUEUED_BYTES)
        for step in _answer_steps(result):
            if pacer.must_wait() and not pacing.wait_until_sent(event.assoc,
                                                                settings.BROKER_MWL_SEND_TIMEOUT_SECONDS):
                _end_stalled(event.assoc, calling_ae, matches)
                return  # `finally` logs the incomplete answer
            if event.is_cancelled:
                entry.finish(CANCELED, matches, "canceled by the modality (C-CANCEL)")
                yield CANCELED, None
                return
            response = respond(step)
            pacer.sent(response)
            yield pending, response
            matches += 1
            entry.returned(step)
        note = f"answer capped at BROKER_MWL_MAX_RESULTS={result.count}" if result.truncated else ""
        if result.plan.unsupported:
            note = (note + "; " if note else "") + "not matched: " + ", ".join(result.plan.unsupported)
        if result.hidden:
            note = (note + "; " if note else "") + f"scope hid {result.hidden} step(s): {result.scope.describe()}"
        entry.finish(SUCCESS, matches, note)
    except Exception as exc:
        status = failure_status(exc)
        if isinstance(exc, PEER_FAULTS):
            log.warning("C-FIND from %s refused 0x%04X: %s", calling_ae, status.Status, status.ErrorComment)
        else:
            log.exception("C-FIND from %s failed", calling_ae)
        entry.finish(status.Status, matches, str(getattr(exc, "comment", None) or exc))
        yield status, None
    finally:
        if not entry.finished:
            # The association ended (abort, network) while responses were still being sent.
            entry.finish(PENDING, matches, f"the modality left after {matches} response(s); answer incomplete")
        # The log row is bookkeeping: written after the answer, off the association's path.
        db_work.submit(entry.save)


def handlers():
    return [(evt.EVT_C_FIND, handle_find)]
