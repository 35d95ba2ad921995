"""manage.py audit verify | export: check the hash chain; write events as DICOM audit messages or JSON."""
import sys
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from broker.audit import trail
from broker.audit.export import FORMATS, export_lines


def _moment(text: str | None, option: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{option} {text!r}: not an ISO 8601 date or date and time") from exc
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment  # naive: the department's time


class Command(BaseCommand):
    help = ("The audit trail: `verify` checks the hash chain (exit 1 at the first broken link); `export` writes "
            "events one per line as DICOM audit messages (PS3.15 A.5) or JSON.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="recompute every link of the chain; name the first broken one")
        export = sub.add_parser("export", help="events of a time range, oldest first, one per line")
        export.add_argument("--since", help="ISO date or date and time (inclusive; naive = BROKER_TIME_ZONE)")
        export.add_argument("--until", help="ISO date or date and time (exclusive)")
        export.add_argument("--format", choices=FORMATS, default="dicom-xml")
        export.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, action, **options):
        if action == "verify":
            return self.verify()
        return self.export(options)

    def verify(self):
        result = trail.verify()
        if not result.intact:
            self.stderr.write(f"BROKEN at event #{result.broken_id} ({result.broken_time.isoformat()}): {result.reason}; "
                              f"{result.checked} events before it are intact")
            raise SystemExit(1)
        self.stdout.write(f"OK: {result.checked} events, chain intact")

    def export(self, options):
        since, until = _moment(options["since"], "--since"), _moment(options["until"], "--until")
        lines = export_lines(since, until, options["format"])
        if not options["output"]:
            written = self._write(lines, self.stdout)
        else:
            try:
                with open(options["output"], "w", encoding="utf-8") as out:
                    written = self._write(lines, out)
            except OSError as exc:
                raise CommandError(f"--output {options['output']}: {exc}") from exc
        print(f"{written} events exported", file=sys.stderr)

    @staticmethod
    def _write(lines, out) -> int:
        written = 0
        for line in lines:
            out.write(line + "\n")
            written += 1
        return written
