"""manage.py rundicom: the DICOM listener until SIGTERM or Ctrl-C.

With --processes N (BROKER_DICOM_PROCESSES) this process and N-1 child processes each run a listener
on the same port (SO_REUSEPORT): the kernel spreads the associations over them, so the listener
uses more than one core despite Python's GIL. A child that dies stops all of them with a clear
message, as runbroker does with its parts (a supervisor such as systemd restarts the broker); a
child whose parent is gone (even killed with SIGKILL) stops too: it watches the pipe the parent
holds open as its standard input.

With BROKER_DICOM_TLS_PORT (or --tls-port) a TLS listener serves the same AE beside the plain one
(BROKER_DICOM_PLAIN=false closes the plain one). A certificate file that cannot be used, or settings
that contradict each other, stop the command before anything listens, naming the variable.
"""
import os
import signal
import subprocess
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from broker.audit import lifecycle
from broker.core.dicom_net.version import UntestedPynetdicom
from broker.core.tls import TLSConfigurationError
from broker.dicom import listener

READY = "DICOM listener ready on"
# How often the parent looks at its child processes: a supervisor poll, not a readiness wait.
CHILD_POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = "Run the DICOM listener (Verification, Modality Worklist, MPPS, Storage) until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None, help="bind address (default BROKER_HOST)")
        parser.add_argument("--port", type=int, default=None, help="port (default BROKER_DICOM_PORT)")
        parser.add_argument("--tls-port", type=int, default=None,
                            help="TLS port (default BROKER_DICOM_TLS_PORT; 0 = a free port)")
        parser.add_argument("--processes", type=int, default=None,
                            help="listener processes sharing the port (default BROKER_DICOM_PROCESSES)")
        parser.add_argument("--shared-port", action="store_true",
                            help="(internal) a child of --processes: stops when its standard input closes")

    def handle(self, *args, **options):
        processes = options["processes"] if options["processes"] is not None else settings.BROKER_DICOM_PROCESSES
        if processes < 1:
            raise CommandError(f"--processes / BROKER_DICOM_PROCESSES must be at least 1, got {processes}")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        shared = processes > 1 or options["shared_port"]
        if options["shared_port"]:
            threading.Thread(target=_stop_at_end_of_input, args=(stop,), daemon=True).start()
        try:
            servers = listener.start_listeners(options["host"], options["port"], options["tls_port"], shared_port=shared)
        except TLSConfigurationError as exc:
            lifecycle.certificate_problem("DICOM TLS listener", str(exc))
            raise CommandError(f"DICOM TLS listener not started: {exc}") from exc
        except (UntestedPynetdicom, listener.ListenerConfigurationError) as exc:
            raise CommandError(str(exc)) from exc
        plain = servers.plain.server_address[:2] if servers.plain is not None else None
        tls = servers.tls.server_address[:2] if servers.tls is not None else None
        children = [self._start_child(plain, tls) for _ in range(processes - 1)]
        try:
            for child in children:
                self._wait_ready(child)
            listener.freeze_startup_objects()
            pids = " ".join(str(pid) for pid in [os.getpid(), *(child.pid for child in children)])
            lifecycle.started("dicom listener", plain=plain and list(plain), tls=tls and list(tls))
            self.stdout.write(f"{READY} {ready_addresses(plain, tls, pids)}", ending="\n")
            self.stdout.flush()
            failed = self._supervise(children, stop)
        finally:
            self.stdout.write("DICOM listener stopping")
            self._stop_children(children)
            servers.shutdown()
            lifecycle.stopped("dicom listener")
        if failed is not None:
            raise CommandError(f"listener process {failed.pid} exited with status {failed.returncode}; "
                               "all listener processes stopped. See its log lines above for the cause.")

    def _start_child(self, plain: tuple | None, tls: tuple | None) -> subprocess.Popen:
        # The ports this process bound (a free port too); BROKER_DICOM_PLAIN reaches the child in its environment.
        argv = [sys.executable, str(settings.BASE_DIR / "manage.py"), "rundicom", "--host", (plain or tls)[0],
                "--processes", "1", "--shared-port"]
        if plain is not None:
            argv += ["--port", str(plain[1])]
        if tls is not None:
            argv += ["--tls-port", str(tls[1])]
        # Its own process group: a terminal's Ctrl-C reaches the parent, which stops the children.
        return subprocess.Popen(argv, cwd=settings.BASE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                start_new_session=True)

    def _wait_ready(self, child: subprocess.Popen) -> None:
        line = child.stdout.readline()  # the child's first line, or "" when it died first
        if READY not in line:
            raise CommandError(f"listener process {child.pid} did not start (exit status {child.wait()})")
        # Its later lines (the stop message) go to our output.
        threading.Thread(target=self._relay, args=(child.stdout,), daemon=True).start()

    def _relay(self, stream) -> None:
        for line in stream:
            self.stdout.write(line, ending="")

    def _supervise(self, children: list[subprocess.Popen], stop: threading.Event) -> subprocess.Popen | None:
        while not stop.wait(CHILD_POLL_SECONDS if children else None):
            for child in children:
                if child.poll() is not None:
                    return child
        return None

    def _stop_children(self, children: list[subprocess.Popen]) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def ready_addresses(plain: tuple | None, tls: tuple | None, pids: str) -> str:
    """`host:port (pid …)` as before TLS (scripts read it), then `; TLS on host:port`; or `TLS host:port (pid …)`."""
    if plain is None:
        return f"TLS {tls[0]}:{tls[1]} (pid {pids})"
    return f"{plain[0]}:{plain[1]} (pid {pids})" + (f"; TLS on {tls[0]}:{tls[1]}" if tls is not None else "")


def _stop_at_end_of_input(stop: threading.Event) -> None:
    """In a child of --processes: the parent never writes to our standard input; its end means the parent is gone."""
    sys.stdin.read()
    stop.set()
