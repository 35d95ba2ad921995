"""manage.py mppsdestinations: list, show, add and remove the MPPS destinations (downstream MPPS SCPs), for scripting.

  mppsdestinations list [--json]
  mppsdestinations show DOSE [--json]
  mppsdestinations add DOSE --ae DOSEMON --host 10.0.0.7 --port 104 [--description ...] [--disabled]
      [--tls [--tls-ca-file ca.pem] [--tls-cert-file broker.pem --tls-key-file broker.key]]
  mppsdestinations enable|disable|remove DOSE

Each N-CREATE / N-SET the broker accepts is forwarded to every enabled destination (docs/mpps.md). The values are
checked as the admin form checks them.
"""
from broker.outbound.forms import MppsDestinationForm
from broker.outbound.management.peers import PeerCommand
from broker.outbound.models import MppsDestination


class Command(PeerCommand):
    help = "List, show, add and remove MPPS destinations (the MPPS SCPs each performed procedure step is forwarded to)."
    model = MppsDestination
    form = MppsDestinationForm
    kind = "MPPS destination"
    options_of_fields = {"ae_title": "--ae"}
    queued_work = "MPPS forwards"

    def add_peer_arguments(self, parser) -> None:
        parser.add_argument("--ae", required=True, help="the destination's AE title")
        parser.add_argument("--host", required=True)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--description", default="")

    def peer_fields(self, options) -> dict:
        return {"ae_title": options["ae"], "host": options["host"], "port": options["port"],
                "description": options["description"]}

    def line(self, destination) -> str:
        return f"{destination.name}\t{destination.ae_title}@{destination.host}:{destination.port}"
