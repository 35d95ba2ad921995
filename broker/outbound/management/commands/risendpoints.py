"""manage.py risendpoints: list, show, add and remove the RIS endpoints (HL7 status messages), for scripting.

  risendpoints list [--json]
  risendpoints show RIS [--json]
  risendpoints add RIS --host 10.0.0.9 --port 2576 [--format AUTO|ORM|OMI] [--receiving-application RIS]
      [--receiving-facility HOSP] [--timeout 10] [--match-sending-application RIS] [--disabled]
      [--tls [--tls-ca-file ca.pem] [--tls-cert-file broker.pem --tls-key-file broker.key]]
  risendpoints enable|disable|remove RIS

The RIS is told when a procedure starts, completes or is discontinued (docs/mpps.md). The values are checked as
the admin form checks them.
"""
from broker.outbound.forms import RisEndpointForm
from broker.outbound.management.peers import PeerCommand
from broker.outbound.models import RisEndpoint


class Command(PeerCommand):
    help = "List, show, add and remove RIS endpoints (where HL7 procedure status messages are sent)."
    model = RisEndpoint
    form = RisEndpointForm
    kind = "RIS endpoint"
    options_of_fields = {"message_format": "--format", "timeout_seconds": "--timeout"}
    queued_work = "RIS notifications"

    def add_peer_arguments(self, parser) -> None:
        parser.add_argument("--host", required=True)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--format", default=RisEndpoint.MessageFormat.AUTO,
                            help="AUTO (as the order came: ORM for v2.3/2.4, OMI for v2.5+), ORM or OMI")
        parser.add_argument("--receiving-application", default="", help="MSH-5 of the messages")
        parser.add_argument("--receiving-facility", default="", help="MSH-6 of the messages")
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the ACK (default 10)")
        parser.add_argument("--match-sending-application", default="",
                            help="tell this RIS only about orders whose MSH-3 was this; default every order")

    def peer_fields(self, options) -> dict:
        return {"host": options["host"], "port": options["port"], "message_format": options["format"].upper(),
                "receiving_application": options["receiving_application"],
                "receiving_facility": options["receiving_facility"], "timeout_seconds": options["timeout"],
                "match_sending_application": options["match_sending_application"]}

    def line(self, endpoint) -> str:
        return f"{endpoint.name}\t{endpoint.host}:{endpoint.port}\t{endpoint.message_format}"
