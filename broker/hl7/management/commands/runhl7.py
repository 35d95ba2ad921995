"""manage.py runhl7: the HL7 MLLP listener until SIGTERM or Ctrl-C."""
import asyncio
import gc
import signal

from django.core.management.base import BaseCommand, CommandError

from broker.audit import lifecycle
from broker.core.env import ConfigurationError
from broker.core.tls import TLSConfigurationError
from broker.hl7.server import MLLPServer


class Command(BaseCommand):
    help = "Run the HL7 v2 MLLP listener (orders and ADT into the worklist) until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None, help="bind address (default BROKER_HOST)")
        parser.add_argument("--port", type=int, default=None, help="port (default BROKER_HL7_PORT; 0 picks a free one)")
        parser.add_argument("--tls-port", type=int, default=None,
                            help="MLLP over TLS port (default BROKER_HL7_TLS_PORT, unset = none; 0 picks a free one)")

    def handle(self, *args, **options):
        # What is loaded by now (modules, settings, models) lives as long as the process: keep it out of the
        # collector's full passes, which otherwise rescan it every few thousand messages.
        gc.freeze()
        try:
            server = MLLPServer(options["host"], options["port"], tls_port=options["tls_port"])
        except (TLSConfigurationError, ConfigurationError) as exc:
            if isinstance(exc, TLSConfigurationError):
                lifecycle.certificate_problem("HL7 TLS listener", str(exc))
            raise CommandError(f"HL7 listener not started: {exc}") from exc
        asyncio.run(self._run(server))

    async def _run(self, server: MLLPServer):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        await asyncio.to_thread(lifecycle.started, "hl7 listener", ports=server.describe_ports())
        self.stdout.write(f"HL7 listener ready on {server.describe_ports()}")
        self.stdout.flush()
        await stop.wait()
        self.stdout.write("HL7 listener stopping")
        self.stdout.flush()
        await server.stop()
        await asyncio.to_thread(lifecycle.stopped, "hl7 listener")
        self.stdout.write("HL7 listener stopped")
