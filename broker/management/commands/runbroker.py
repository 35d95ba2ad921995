"""manage.py runbroker: the all-in-one default — DICOM and HL7 listeners, a worker and the web server.

Each part is a child process; SIGTERM or Ctrl-C stops them all cleanly, and a child that dies
takes the whole broker down with a clear message (a supervisor such as systemd restarts it). When
runbroker itself is killed (SIGKILL, OOM killer) its children get SIGTERM from the kernel
(broker/core/lifeline.py) and stop theirs in turn: nothing is left holding the ports.
"""
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from broker.core import lifeline


def child_commands(web_port: int) -> dict[str, list[str]]:
    python = sys.executable
    manage = os.path.join(settings.BASE_DIR, "manage.py")
    worker = [python, "-m", "celery", "-A", "broker", "worker", "--beat", "--loglevel", "INFO", "--concurrency", "2",
              "--schedule", str(settings.DATA_DIR / "celerybeat-schedule")]
    if settings.CELERY_BROKER_URL == "filesystem://":
        worker += ["--pool", "threads"]  # the file-system transport is polled; threads keep it light
    return {
        "dicom": [python, manage, "rundicom"],
        "hl7": [python, manage, "runhl7"],
        "worker": worker,
        # Threads, timeouts and limits in broker/gunicorn_conf.py (BROKER_WEB_* settings).
        "web": [python, "-m", "gunicorn", "-c", "python:broker.gunicorn_conf", "broker.wsgi",
                "--bind", f"{settings.BROKER_HOST}:{web_port}"],
    }


def hl7_ports() -> str:
    """The MLLP ports for the start line: "MLLP :2575", "MLLP :2575, MLLP/TLS :2576" or "MLLP/TLS :2576"."""
    ports = [f"MLLP :{settings.BROKER_HL7_PORT}"] if settings.BROKER_HL7_PLAIN else []
    if settings.BROKER_HL7_TLS_PORT is not None:
        ports.append(f"MLLP/TLS :{settings.BROKER_HL7_TLS_PORT}")
    return ", ".join(ports)


class Command(BaseCommand):
    help = "Run the whole broker (DICOM, HL7, worker, web) in one command until SIGTERM or Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--without", action="append", default=[], choices=["dicom", "hl7", "worker", "web"],
                            help="leave one part out (repeatable)")

    def handle(self, *args, **options):
        stopping = False

        def request_stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

        children = {}
        for name, argv in child_commands(settings.BROKER_WEB_PORT).items():
            if name in options["without"]:
                continue
            # Children get their own process group so the terminal's Ctrl-C reaches only us, and SIGTERM from the
            # kernel when we die without stopping them (SIGKILL, a crash): each then stops its own children.
            children[name] = subprocess.Popen(argv, cwd=settings.BASE_DIR, start_new_session=True,
                                              preexec_fn=lifeline.preexec_die_with(os.getpid()))
            self.stdout.write(f"started {name} (pid {children[name].pid})")
        # gunicorn serves HTTPS itself with the certificate settings (broker/gunicorn_conf.py).
        web_scheme = "https" if settings.BROKER_WEB_TLS and settings.BROKER_TLS_CERT else "http"
        self.stdout.write(
            f"broker running: DICOM {settings.BROKER_AE_TITLE}@{settings.BROKER_HOST}:{settings.BROKER_DICOM_PORT}, "
            f"HL7 {hl7_ports()}, web {web_scheme}://127.0.0.1:{settings.BROKER_WEB_PORT}/ — Ctrl-C stops"
        )
        self.stdout.flush()
        failed = None
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    failed = name
                    stopping = True
                    self.stderr.write(f"{name} exited with status {proc.returncode}; stopping the broker. "
                                      f"See its log lines above for the cause.")
                    break
            time.sleep(0.2)  # supervisor poll interval, not a readiness wait
        self._stop_all(children)
        if failed:
            sys.exit(1)

    def _stop_all(self, children):
        for proc in children.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for name, proc in children.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop within 15 s; killing it")
                proc.kill()
                proc.wait()
        self.stdout.write("broker stopped")
