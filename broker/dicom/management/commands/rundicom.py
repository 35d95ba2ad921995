"""manage.py rundicom: the DICOM listener until SIGTERM or Ctrl-C."""
import signal
import threading

from django.core.management.base import BaseCommand

from broker.dicom import listener


class Command(BaseCommand):
    help = "Run the DICOM listener (Verification, Modality Worklist, MPPS, Storage) until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None, help="bind address (default BROKER_HOST)")
        parser.add_argument("--port", type=int, default=None, help="port (default BROKER_DICOM_PORT)")

    def handle(self, *args, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        server = listener.start(options["host"], options["port"])
        listener.freeze_startup_objects()
        host, port = server.server_address[:2]
        self.stdout.write(f"DICOM listener ready on {host}:{port}", ending="\n")
        self.stdout.flush()
        stop.wait()
        self.stdout.write("DICOM listener stopping")
        server.shutdown()
