"""The admin's "Test connection" for the RIS endpoint (one MLLP round trip) and the MPPS destinations (a C-ECHO).

The RIS gets an HL7 v2.5 NMQ^N01 (network management query, chapter 14): a message with no clinical content
that a RIS may answer AA, or AR for a type it does not take; either proves its MLLP interface is up and reads
what the broker sends. No answer, a closed connection or a reply without MSA is a failure.
"""
import uuid

from django.conf import settings
from django.utils import timezone

from broker.core import reachability
from broker.core.hl7v2.dtm import format_dtm
from broker.outbound import tls
from broker.outbound.hl7_status import escape, read_ack, segment
from broker.outbound.models import MppsDestination, RisEndpoint


def probe_message(endpoint: RisEndpoint, control_id: str, now) -> str:
    stamp = format_dtm(now, timezone.get_default_timezone())  # the department's time with its offset, as elsewhere
    fields = {2: "^~\\&", 3: escape(settings.BROKER_HL7_APPLICATION), 4: escape(settings.BROKER_HL7_FACILITY),
              5: escape(endpoint.receiving_application), 6: escape(endpoint.receiving_facility), 7: stamp,
              9: "NMQ^N01^NMQ_N01", 10: control_id, 11: "P", 12: "2.5"}
    msh = "MSH|" + segment("", fields)[2:]
    return "\r".join([msh, segment("NCK", {1: stamp})])


def _reading(control_id: str):
    def read(reply: bytes) -> tuple[bool, str]:
        ack = read_ack(reply, control_id)
        if ack.code == "?":
            return False, f"answered something that is not an HL7 ACK ({ack.text})"
        if ack.accepted:
            return True, f"answered the test message with {ack.code}"
        # AR/AE: its HL7 interface is up and answered; it only does not take network management messages.
        reason = f": {ack.text}" if ack.text else ""
        return True, f"answered the test message with {ack.code}{reason} (its MLLP interface is up)"
    return read


def try_ris(endpoint: RisEndpoint) -> reachability.ConnectionTest:
    peer = f"the RIS at {endpoint.host}:{endpoint.port}"
    try:
        context = tls.client_context(endpoint, "RIS endpoint", "the RIS")
    except tls.PeerTLSConfigurationError as exc:
        return reachability.ConnectionTest(False, str(exc))
    control_id = f"TEST-{uuid.uuid4().hex[:12].upper()}"
    message = probe_message(endpoint, control_id, timezone.localtime()).encode("ascii", errors="replace")
    timeout = min(endpoint.timeout_seconds, settings.BROKER_TEST_CONNECTION_TIMEOUT)
    return reachability.mllp_round_trip(host=endpoint.host, port=endpoint.port, timeout=timeout, peer=peer,
                                        message=message, read_reply=_reading(control_id), ssl_context=context)


def try_dicom_peer(peer_row, kind: str) -> reachability.ConnectionTest:
    """A C-ECHO to an outbound DICOM peer (an MPPS destination, an IAN subscriber), over TLS when it asks for it."""
    peer = f"the {kind} {peer_row.name} ({peer_row.ae_title}) at {peer_row.host}:{peer_row.port}"
    try:
        context = tls.client_context(peer_row, kind, "the peer")
    except tls.PeerTLSConfigurationError as exc:
        return reachability.ConnectionTest(False, str(exc))
    return reachability.echo(calling_ae=settings.BROKER_AE_TITLE, called_ae=peer_row.ae_title,
                             host=peer_row.host, port=peer_row.port, peer=peer, ssl_context=context,
                             timeout=settings.BROKER_TEST_CONNECTION_TIMEOUT)


def try_mpps_destination(destination: MppsDestination) -> reachability.ConnectionTest:
    return try_dicom_peer(destination, "MPPS destination")
