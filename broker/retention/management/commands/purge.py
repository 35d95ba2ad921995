"""manage.py purge [--dry-run] [--kind K ...] [--budget SECONDS]: delete the logs' expired rows now."""
from django.core.management.base import BaseCommand, CommandError

from broker.retention import kinds, purge


class Command(BaseCommand):
    help = "Delete HL7 messages, worklist queries and MPPS journal rows older than their retention period."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
        parser.add_argument("--kind", action="append", choices=[kind.name for kind in kinds.KINDS],
                            help="only this kind (repeatable); default: all")
        parser.add_argument("--budget", type=float, default=None,
                            help="stop after this many seconds (the next run carries on); default: until done")

    def handle(self, *args, dry_run=False, kind=None, budget=None, **options):
        try:
            selected = kinds.by_name(kind) if kind else list(kinds.KINDS)
        except KeyError as exc:
            raise CommandError(str(exc)) from None
        for each in selected:
            if not each.days:
                self.stdout.write(f"{each.name}: kept forever ({each.days_setting}=0)")
        if dry_run:
            for name, (expired, kept) in purge.would_delete(selected).items():
                days = kinds.by_name([name])[0].days
                self.stdout.write(f"{name}: would delete {expired} row(s) older than {days} days; "
                                  f"{kept} as old kept (still needed)")
            return
        summary = purge.run(selected, budget_seconds=budget, progress=self._progress)
        for name, deleted in summary.deleted.items():
            self.stdout.write(self.style.SUCCESS(f"{name}: deleted {deleted} row(s)"))
        for name in summary.unfinished:
            self.stdout.write(self.style.WARNING(f"{name}: budget spent, more rows remain (run again)"))

    def _progress(self, kind_run, deleted):
        if deleted:
            self.stdout.write(f"{kind_run.kind.name}: batch {kind_run.batches}, {deleted} deleted, "
                              f"{kind_run.deleted} so far")
