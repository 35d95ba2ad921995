"""Who may send HL7: the sender rules (HL7Sender) applied to a message's source address and MSH-3/MSH-4.

Checked by the intake when BROKER_HL7_REQUIRE_KNOWN_SENDER is on, before anything else of the message is read:
a sender that no enabled rule allows gets an AR that says what it sent and which rule would let it in.
"""
import ipaddress

from broker.hl7 import outcomes
from broker.hl7.models import HL7Sender
from broker.hl7.parser import Header
from worklist.hl7map.errors import Location


def address_of(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The source address in a "host:port" peer (IPv4-mapped IPv6 as IPv4); None when it is not an address."""
    host = (peer.rsplit(":", 1)[0] if ":" in peer else peer).strip("[]")  # the listener writes "host:port"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _as_sent(value: str, header: Header) -> str:
    component = header.encoding_chars[:1] or "^"
    return value.replace(component, "^") if component != "^" else value


def allowing_rule(address, application: str, facility: str) -> HL7Sender | None:
    for rule in HL7Sender.objects.filter(enabled=True).order_by("pk"):
        if rule.allows(address, application, facility):
            return rule
    return None


def check_sender(peer: str, header: Header) -> HL7Sender:
    """The rule that allows this message's sender; outcomes.UnknownSender (answered AR) if none does."""
    application, facility = _as_sent(header.sending_application, header), _as_sent(header.sending_facility, header)
    address = address_of(peer)
    rule = allowing_rule(address, application, facility) if address is not None else None
    if rule is None:
        shown = str(address) if address is not None else (peer or "(unknown)")
        raise outcomes.UnknownSender(
            f"Sender not allowed: {shown} with MSH-3 {application!r} MSH-4 {facility!r} matches no HL7 sender rule "
            f"(BROKER_HL7_REQUIRE_KNOWN_SENDER); needed: hl7senders add NAME --source {shown}"
            + (f" --application {application.split('^', 1)[0]}" if application else "")
            + (f" --facility {facility.split('^', 1)[0]}" if facility else ""), Location("MSH", 1, 3))
    return rule
