"""manage.py iansubscribers: list, show, add and remove the IAN subscribers (Instance Availability Notification
SCPs), for scripting.

  iansubscribers list [--json]
  iansubscribers show RIS [--json]
  iansubscribers add RIS --ae RISIAN --host 10.0.0.9 --port 104 [--trigger complete|routed|both] [--description ...]
      [--disabled] [--tls [--tls-ca-file ca.pem] [--tls-cert-file broker.pem --tls-key-file broker.key]]
  iansubscribers enable|disable|remove RIS

Each enabled subscriber gets an N-CREATE when a study is complete, once it is routed to all its destinations, or
both, as its trigger says (docs/routing.md). The values are checked as the admin form checks them.
"""
from broker.availability.forms import IanSubscriberForm
from broker.availability.models import IanSubscriber
from broker.outbound.management.peers import PeerCommand

TRIGGERS = {"complete": IanSubscriber.Trigger.COMPLETE, "routed": IanSubscriber.Trigger.ROUTED,
            "both": IanSubscriber.Trigger.BOTH}


class Command(PeerCommand):
    help = "List, show, add and remove IAN subscribers (told when a study's instances are available)."
    model = IanSubscriber
    form = IanSubscriberForm
    kind = "IAN subscriber"
    options_of_fields = {"ae_title": "--ae"}
    queued_work = "instance availability notifications"

    def add_peer_arguments(self, parser) -> None:
        parser.add_argument("--ae", required=True, help="the subscriber's AE title")
        parser.add_argument("--host", required=True)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--trigger", choices=sorted(TRIGGERS), default="complete",
                            help="when to notify: the study is complete, routed to all its destinations, or both")
        parser.add_argument("--description", default="")

    def peer_fields(self, options) -> dict:
        return {"ae_title": options["ae"], "host": options["host"], "port": options["port"],
                "trigger": TRIGGERS[options["trigger"]], "description": options["description"]}

    def line(self, subscriber) -> str:
        return (f"{subscriber.name}\t{subscriber.ae_title}@{subscriber.host}:{subscriber.port}"
                f"\t{subscriber.trigger.lower()}")
