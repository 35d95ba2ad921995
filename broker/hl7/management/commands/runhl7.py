"""manage.py runhl7: the HL7 MLLP listener until SIGTERM or Ctrl-C."""
import asyncio
import gc
import signal

from django.core.management.base import BaseCommand

from broker.hl7.server import MLLPServer


class Command(BaseCommand):
    help = "Run the HL7 v2 MLLP listener (orders and ADT into the worklist) until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None, help="bind address (default BROKER_HOST)")
        parser.add_argument("--port", type=int, default=None, help="port (default BROKER_HL7_PORT; 0 picks a free one)")

    def handle(self, *args, **options):
        # What is loaded by now (modules, settings, models) lives as long as the process: keep it out of the
        # collector's full passes, which otherwise rescan it every few thousand messages.
        gc.freeze()
        asyncio.run(self._run(options["host"], options["port"]))

    async def _run(self, host, port):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = await MLLPServer(host, port).start()
        bound_host, bound_port = server.address
        self.stdout.write(f"HL7 listener ready on {bound_host}:{bound_port}")
        self.stdout.flush()
        await stop.wait()
        self.stdout.write("HL7 listener stopping")
        self.stdout.flush()
        await server.stop()
        self.stdout.write("HL7 listener stopped")
