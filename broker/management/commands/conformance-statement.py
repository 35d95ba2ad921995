"""manage.py conformance-statement: the DICOM Conformance Statement (PS3.2) of this configuration.

Markdown by default, HTML with `--format html`; to stdout, or to `--output FILE`. The statement is built from
the tables the listener negotiates with and the settings of this process (broker/conformance), so it says what
a broker started with the same environment does. docs/conformance.md is its output for the default
configuration (`make conformance-doc` writes it again).
"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from broker.conformance.document import render_html, render_markdown
from broker.conformance.statement import build

RENDERERS = {"markdown": render_markdown, "html": render_html}


class Command(BaseCommand):
    help = "Write the DICOM Conformance Statement (PS3.2) of the running configuration (Markdown or HTML)."
    requires_system_checks = []  # reads settings and tables only; no database

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=sorted(RENDERERS), default="markdown",
                            help="markdown (default) or html")
        parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")

    def handle(self, *args, **options):
        text = RENDERERS[options["format"]](build())
        if not options["output"]:
            self.stdout.write(text, ending="")
            return
        path = Path(options["output"])
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self.stderr.write(f"conformance statement written to {path}")
