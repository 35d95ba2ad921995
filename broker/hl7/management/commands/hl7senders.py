"""manage.py hl7senders: list, add and remove the rules of who may send HL7, for scripting.

  hl7senders list
  hl7senders add RIS --source 10.1.2.3 [--application RIS] [--facility HOSP] [--disabled] [--description ...]
  hl7senders add RIS-NET --source 10.1.2.0/24
  hl7senders enable|disable|remove RIS

The rules apply when BROKER_HL7_REQUIRE_KNOWN_SENDER is on (docs/security.md).
"""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from broker.hl7.models import HL7Sender


class Command(BaseCommand):
    help = "List, add and remove HL7 sender rules (who may send HL7 when BROKER_HL7_REQUIRE_KNOWN_SENDER is on)."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
        commands.add_parser("list", help="list sender rules")
        add = commands.add_parser("add", help="add a sender rule")
        add.add_argument("name")
        add.add_argument("--source", required=True, help="address (10.1.2.3) or network (10.1.2.0/24) it sends from")
        add.add_argument("--application", default="", help="MSH-3 it must send (whole field or namespace ID); default any")
        add.add_argument("--facility", default="", help="MSH-4 it must send (whole field or namespace ID); default any")
        add.add_argument("--description", default="")
        add.add_argument("--disabled", action="store_true")
        for name in ("remove", "enable", "disable"):
            commands.add_parser(name, help=f"{name} a sender rule").add_argument("name")

    def handle(self, *args, **options):
        getattr(self, f"sender_{options['command']}")(options)

    def sender_list(self, options):
        if not settings.BROKER_HL7_REQUIRE_KNOWN_SENDER:
            self.stderr.write("note: BROKER_HL7_REQUIRE_KNOWN_SENDER is off, so these rules are not applied")
        for rule in HL7Sender.objects.order_by("name"):
            flags = "" if rule.enabled else "\tdisabled"
            self.stdout.write(f"{rule.name}\t{rule.source}\tMSH-3 {rule.sending_application or '*'}\t"
                              f"MSH-4 {rule.sending_facility or '*'}{flags}")

    def sender_add(self, options):
        if HL7Sender.objects.filter(name=options["name"]).exists():
            raise CommandError(f"sender rule {options['name']} exists; remove it first")
        rule = HL7Sender(name=options["name"], source=options["source"].strip(),
                         sending_application=options["application"].strip(), sending_facility=options["facility"].strip(),
                         description=options["description"], enabled=not options["disabled"])
        try:
            rule.full_clean()
        except ValidationError as exc:
            option = {"sending_application": "application", "sending_facility": "facility"}
            raise CommandError("; ".join(f"--{option.get(field, field)}: {' '.join(errors)}"
                                         for field, errors in exc.message_dict.items())) from None
        rule.save()
        self.stdout.write(f"added sender rule {rule.name}")

    def _rule(self, name: str) -> HL7Sender:
        try:
            return HL7Sender.objects.get(name=name)
        except HL7Sender.DoesNotExist:
            raise CommandError(f"no sender rule named {name}") from None

    def sender_remove(self, options):
        rule = self._rule(options["name"])
        rule.delete()
        self.stdout.write(f"removed sender rule {rule.name}")

    def sender_enable(self, options, enabled=True):
        rule = self._rule(options["name"])
        rule.enabled = enabled
        rule.save(update_fields=["enabled"])
        self.stdout.write(f"{'enabled' if enabled else 'disabled'} sender rule {rule.name}")

    def sender_disable(self, options):
        self.sender_enable(options, enabled=False)
