"""manage.py destinations: list, add and remove routing destinations and rules, for scripting.

  destinations list
  destinations add PACS --ae PACS --host 10.0.0.5 --port 104 [--max-associations 2] [--disabled]
      [--tls [--tls-ca-file ca.pem] [--tls-cert-file broker.pem --tls-key-file broker.key]]
  destinations enable|disable|remove PACS
  destinations rule list
  destinations rule add CT-TO-PACS --to PACS [--to AI] [--modality CT] [--set InstitutionName="City Hospital"]
  destinations rule add MOVE-CT --action MOVE --move-source ARCHIVE --to PACS --modality CT
  destinations rule remove CT-TO-PACS
"""
import json
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import ProtectedError

from broker.core.checks import check_ae_title, check_code_string, check_optional_ae_title, check_port, check_regex
from broker.routing import tls
from broker.routing.forms import alternatives_of
from broker.routing.models import Destination, RoutingRule
from broker.routing.rules import InvalidAttributeChange, validate_attribute_changes


def _checked(option: str, check, value):
    """The value as the admin form's check returns it; its refusal names the option."""
    try:
        return check(value)
    except ValidationError as exc:
        raise CommandError(f"{option}: {' '.join(exc.messages)}") from None


def _absolute(path: str) -> str:
    return os.path.abspath(path) if path else ""


class Command(BaseCommand):
    help = "List, add and remove routing destinations and rules."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
        commands.add_parser("list", help="list destinations")
        add = commands.add_parser("add", help="add a destination")
        add.add_argument("name")
        add.add_argument("--ae", required=True, help="the destination's AE title")
        add.add_argument("--host", required=True)
        add.add_argument("--port", type=int, required=True)
        add.add_argument("--max-associations", type=int, default=1)
        add.add_argument("--disabled", action="store_true")
        add.add_argument("--tls", action="store_true", help="connect with TLS (the destination's certificate and host are verified)")
        add.add_argument("--tls-ca-file", default="", help="PEM file of the CA(s) that sign the destination's certificate "
                         "(default: the system's CAs)")
        add.add_argument("--tls-cert-file", default="", help="PEM client certificate, for a destination that asks for one")
        add.add_argument("--tls-key-file", default="", help="its unencrypted PEM private key (if not in --tls-cert-file)")
        add.add_argument("--description", default="")
        for name in ("remove", "enable", "disable"):
            commands.add_parser(name, help=f"{name} a destination").add_argument("name")

        rule = commands.add_parser("rule", help="routing rules").add_subparsers(dest="rule_command", required=True,
                                                                              parser_class=CommandParser)
        rule.add_parser("list", help="list rules")
        rule_add = rule.add_parser("add", help="add a rule")
        rule_add.add_argument("name")
        rule_add.add_argument("--to", action="append", required=True, metavar="DESTINATION", help="destination name (repeatable)")
        rule_add.add_argument("--action", choices=["SEND", "MOVE"], default="SEND")
        rule_add.add_argument("--move-source", default=None, metavar="DESTINATION", help="for MOVE: the archive holding the study")
        rule_add.add_argument("--priority", type=int, default=100, help="lower first (default 100)")
        rule_add.add_argument("--calling-ae", default="")
        rule_add.add_argument("--modality", default="")
        rule_add.add_argument("--station", default="")
        rule_add.add_argument("--procedure-code", default="")
        rule_add.add_argument("--body-part", default="")
        rule_add.add_argument("--description-regex", default="")
        rule_add.add_argument("--set", action="append", default=[], metavar="KEYWORD=VALUE",
                              help="change an attribute on the way out (empty value removes it)")
        rule_add.add_argument("--disabled", action="store_true")
        rule.add_parser("remove", help="remove a rule").add_argument("name")

    def handle(self, *args, **options):
        command = options["command"]
        if command == "rule":
            return getattr(self, f"rule_{options['rule_command']}")(options)
        return getattr(self, f"destination_{command}")(options)

    # --- destinations ---
    def destination_list(self, options):
        for d in Destination.objects.order_by("name"):
            flags = ("" if d.enabled else " disabled") + (" tls" if d.use_tls else "")
            self.stdout.write(f"{d.name}\t{d.ae_title}@{d.host}:{d.port}\tmax {d.max_associations}{flags}")

    def destination_add(self, options):
        _checked("--port", check_port, options["port"])
        options["ae"] = _checked("--ae", check_ae_title, options["ae"])
        if Destination.objects.filter(name=options["name"]).exists():
            raise CommandError(f"destination {options['name']} exists; remove it first")
        destination = Destination(
            name=options["name"], ae_title=options["ae"].strip(), host=options["host"], port=options["port"],
            max_associations=max(options["max_associations"], 1), enabled=not options["disabled"], use_tls=options["tls"],
            # Absolute, so the worker finds them whatever its working directory.
            tls_ca_file=_absolute(options["tls_ca_file"]), tls_cert_file=_absolute(options["tls_cert_file"]),
            tls_key_file=_absolute(options["tls_key_file"]), description=options["description"])
        self._check_tls(destination)
        destination.save()
        self.stdout.write(f"added destination {options['name']}")

    def _check_tls(self, destination: Destination) -> None:
        """Refuse TLS files that the sender could not use, now rather than at the first routing job."""
        given = [option for option, path in (("--tls-ca-file", destination.tls_ca_file), ("--tls-cert-file", destination.tls_cert_file),
                                             ("--tls-key-file", destination.tls_key_file)) if path]
        if not destination.use_tls:
            if given:
                raise CommandError(f"{', '.join(given)} without --tls: add --tls to connect with TLS")
            return
        try:
            tls.client_context(destination)
        except tls.TLSConfigurationError as exc:
            raise CommandError(f"TLS: {exc}") from exc

    def _destination(self, name) -> Destination:
        try:
            return Destination.objects.get(name=name)
        except Destination.DoesNotExist:
            raise CommandError(f"no destination named {name}") from None

    def destination_remove(self, options):
        destination = self._destination(options["name"])
        try:
            destination.delete()
        except ProtectedError:
            raise CommandError(f"destination {destination.name} has routing jobs or is a move source; disable it instead") from None
        self.stdout.write(f"removed destination {destination.name}")

    def destination_enable(self, options, enabled=True):
        destination = self._destination(options["name"])
        destination.enabled = enabled
        destination.save(update_fields=["enabled"])
        self.stdout.write(f"{'enabled' if enabled else 'disabled'} destination {destination.name}")

    def destination_disable(self, options):
        self.destination_enable(options, enabled=False)

    # --- rules ---
    def rule_list(self, options):
        for r in RoutingRule.objects.prefetch_related("destinations").select_related("move_source"):
            match = {k: getattr(r, f"match_{k}") for k in ("calling_ae", "modality", "station", "procedure_code",
                                                           "body_part", "study_description") if getattr(r, f"match_{k}")}
            to = ",".join(d.name for d in r.destinations.all())
            source = f" from {r.move_source.name}" if r.move_source else ""
            flags = "" if r.enabled else " disabled"
            changes = f" set {json.dumps(r.attribute_changes)}" if r.attribute_changes else ""
            self.stdout.write(f"{r.priority}\t{r.name}\t{r.action}{source} to {to}\tmatch {json.dumps(match)}{changes}{flags}")

    def rule_add(self, options):
        if RoutingRule.objects.filter(name=options["name"]).exists():
            raise CommandError(f"rule {options['name']} exists; remove it first")
        destinations = [self._destination(name) for name in options["to"]]
        move_source = self._destination(options["move_source"]) if options["move_source"] else None
        if options["action"] == "MOVE" and move_source is None:
            raise CommandError("a MOVE rule needs --move-source (the archive that holds the study)")
        _checked("--description-regex", check_regex, options["description_regex"])
        # The admin form's checks of the match fields, alternative by alternative (broker.routing.forms).
        options["calling_ae"] = _checked("--calling-ae", alternatives_of(check_optional_ae_title), options["calling_ae"])
        options["modality"] = _checked("--modality", alternatives_of(check_code_string, "modality"), options["modality"])
        options["body_part"] = _checked("--body-part", alternatives_of(check_code_string, "body part"),
                                        options["body_part"])
        changes = {}
        for item in options["set"]:
            keyword, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--set {item!r}: write KEYWORD=VALUE")
            changes[keyword.strip()] = value if value != "" else None
        try:
            validate_attribute_changes(changes)
        except InvalidAttributeChange as exc:
            raise CommandError(f"--set: {exc}") from exc
        with transaction.atomic():
            rule = RoutingRule.objects.create(
                name=options["name"], action=options["action"], move_source=move_source, priority=options["priority"],
                enabled=not options["disabled"], match_calling_ae=options["calling_ae"], match_modality=options["modality"],
                match_station=options["station"], match_procedure_code=options["procedure_code"],
                match_body_part=options["body_part"], match_study_description=options["description_regex"],
                attribute_changes=changes)
            rule.destinations.set(destinations)
        self.stdout.write(f"added rule {rule.name}")

    def rule_remove(self, options):
        deleted, _ = RoutingRule.objects.filter(name=options["name"]).delete()
        if not deleted:
            raise CommandError(f"no rule named {options['name']}")
        self.stdout.write(f"removed rule {options['name']}")
