"""manage.py audit verify | export: check the hash chain; write events as DICOM audit messages or JSON."""
from django.core.management.base import BaseCommand, CommandError

from broker.audit import trail


class Command(BaseCommand):
    help = "The audit trail: `verify` checks the hash chain (exit 1 at the first broken link)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="recompute every link of the chain; name the first broken one")

    def handle(self, *args, action, **options):
        if action == "verify":
            return self.verify()
        raise CommandError(f"unknown action {action!r}")

    def verify(self):
        result = trail.verify()
        if not result.intact:
            self.stderr.write(f"BROKEN at event #{result.broken_id} ({result.broken_time.isoformat()}): {result.reason}; "
                              f"{result.checked} events before it are intact")
            raise SystemExit(1)
        self.stdout.write(f"OK: {result.checked} events, chain intact")
