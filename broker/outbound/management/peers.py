"""What the `mppsdestinations` and `risendpoints` commands share: add through the admin's form (the same checks and
words), list / show as tab-separated lines or JSON, enable, disable and remove by name.

Output is for scripts: one line per peer, fields separated by tabs; `--json` gives every field. Errors go to
stderr with exit status 1 (CommandError), naming the option at fault.
"""
import json
import os

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Model, ProtectedError
from django.forms import ModelForm

TLS_OPTIONS = {"tls_ca_file": "--tls-ca-file", "tls_cert_file": "--tls-cert-file", "tls_key_file": "--tls-key-file"}


def absolute(path: str) -> str:
    # Absolute, so the worker finds the file whatever its working directory.
    return os.path.abspath(path) if path else ""


class PeerCommand(BaseCommand):
    """A command over one configuration model; subclasses name it and add their own `add` options."""

    model: type[Model]
    form: type[ModelForm]
    kind = "peer"  # in messages: "added MPPS destination PACS"
    options_of_fields: dict[str, str] = {}  # model field → the option that sets it, for error messages
    queued_work = "queued work"  # what a PROTECT on remove means, in words

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
        commands.add_parser("list", help=f"list {self.kind}s, one a line").add_argument(
            "--json", action="store_true", help="every field, as a JSON array")
        show = commands.add_parser("show", help=f"every field of one {self.kind}")
        show.add_argument("name")
        show.add_argument("--json", action="store_true", help="as a JSON object")
        add = commands.add_parser("add", help=f"add a {self.kind} (checked as the admin form checks it)")
        add.add_argument("name")
        self.add_peer_arguments(add)
        add.add_argument("--disabled", action="store_true")
        add.add_argument("--tls", action="store_true", help="connect with TLS (the peer's certificate and host are verified)")
        add.add_argument("--tls-ca-file", default="", help="PEM file of the CA(s) that sign the peer's certificate "
                         "(default: the system's CAs)")
        add.add_argument("--tls-cert-file", default="", help="PEM client certificate, for a peer that asks for one")
        add.add_argument("--tls-key-file", default="", help="its unencrypted PEM private key (if not in --tls-cert-file)")
        for name in ("remove", "enable", "disable"):
            commands.add_parser(name, help=f"{name} a {self.kind}").add_argument("name")

    def add_peer_arguments(self, parser) -> None:
        raise NotImplementedError

    def peer_fields(self, options) -> dict:
        """The model fields the `add` options give (besides name, enabled and TLS)."""
        raise NotImplementedError

    def line(self, peer) -> str:
        raise NotImplementedError

    def handle(self, *args, **options):
        getattr(self, f"peer_{options['command']}")(options)

    # --- reading ---
    def fields(self, peer) -> dict:
        return {field.name: getattr(peer, field.attname) for field in self.model._meta.concrete_fields
                if field.name != "id"}

    def peer_list(self, options):
        peers = self.model.objects.order_by("name")
        if options["json"]:
            self.stdout.write(json.dumps([self.fields(peer) for peer in peers], indent=2))
            return
        for peer in peers:
            flags = ("" if peer.enabled else "\tdisabled") + ("\ttls" if peer.use_tls else "")
            self.stdout.write(self.line(peer) + flags)

    def peer_show(self, options):
        values = self.fields(self.peer(options["name"]))
        if options["json"]:
            self.stdout.write(json.dumps(values, indent=2))
            return
        for field, value in values.items():
            self.stdout.write(f"{field}\t{str(value).lower() if isinstance(value, bool) else value}")

    # --- changing ---
    def peer_add(self, options):
        given = [option for field, option in TLS_OPTIONS.items() if options[field]]
        if given and not options["tls"]:
            raise CommandError(f"{', '.join(given)} without --tls: add --tls to connect with TLS")
        data = {"name": options["name"], "enabled": not options["disabled"], "use_tls": options["tls"],
                **{field: absolute(options[field]) for field in TLS_OPTIONS}, **self.peer_fields(options)}
        form = self.form(data=data)
        if not form.is_valid():
            raise CommandError("; ".join(self._error(field, errors) for field, errors in form.errors.items()))
        peer = form.save()
        self.stdout.write(f"added {self.kind} {peer.name}")

    def _error(self, field: str, errors) -> str:
        words = " ".join(errors)
        if field == "__all__":
            return words
        option = {"name": "NAME", **TLS_OPTIONS, **self.options_of_fields}.get(field, f"--{field.replace('_', '-')}")
        return f"{option}: {words}"

    def peer(self, name: str):
        try:
            return self.model.objects.get(name=name)
        except self.model.DoesNotExist:
            raise CommandError(f"no {self.kind} named {name}") from None

    def peer_remove(self, options):
        peer = self.peer(options["name"])
        try:
            peer.delete()
        except ProtectedError:
            raise CommandError(f"{self.kind} {peer.name} has {self.queued_work}; disable it instead") from None
        self.stdout.write(f"removed {self.kind} {peer.name}")

    def peer_enable(self, options, enabled: bool = True):
        peer = self.peer(options["name"])
        peer.enabled = enabled
        peer.save(update_fields=["enabled"])
        self.stdout.write(f"{'enabled' if enabled else 'disabled'} {self.kind} {peer.name}")

    def peer_disable(self, options):
        self.peer_enable(options, enabled=False)
