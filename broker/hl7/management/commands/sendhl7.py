"""manage.py sendhl7 FILE --port N: send each message of a file over MLLP and print each ACK's MSA."""
import re
import sys

from django.core.management.base import BaseCommand, CommandError

from broker.core.hl7v2.mllp import MLLPClient


def messages_in(data: bytes) -> list[bytes]:
    """Split a file into messages: each starts at a line beginning with MSH; LF or CRLF become CR."""
    text = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    starts = [m.start() for m in re.finditer(rb"(?:^|\r)MSH", text)]
    found = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[start:end].strip(b"\r")
        if chunk:
            found.append(chunk + b"\r")
    return found


def segment(ack: bytes, name: bytes) -> str:
    for line in ack.split(b"\r"):
        if line.startswith(name):
            return line.decode("utf-8", errors="replace")
    return ""


class Command(BaseCommand):
    help = "Send the HL7 messages of FILE (one or several, LF or CR separated) over MLLP; print each ACK's MSA."

    def add_arguments(self, parser):
        parser.add_argument("file", help="file with one or more HL7 messages ('-' reads standard input)")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each ACK")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        messages = messages_in(data)
        if not messages:
            raise CommandError(f"{path} holds no message starting with MSH")
        failures = 0
        try:
            with MLLPClient(options["host"], options["port"], timeout=options["timeout"]) as client:
                for message in messages:
                    ack = client.send(message)
                    msa = segment(ack, b"MSA")
                    err = segment(ack, b"ERR")
                    self.stdout.write(msa + (f"  {err}" if err else ""))
                    if not msa.startswith(("MSA|AA", "MSA|CA")):
                        failures += 1
        except OSError as exc:
            raise CommandError(f"{options['host']}:{options['port']}: {exc}") from exc
        self.stdout.write(f"{len(messages)} sent, {len(messages) - failures} accepted, {failures} not accepted")
        if failures:
            sys.exit(1)
