"""What every benchmark needs besides the report: free loopback ports, readiness waits, a process's CPU time."""
import os
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    """Return once something accepts connections on 127.0.0.1:port; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): robust to the machine's load, unlike wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scratch_django(database_url: str, data_dir: Path, storage_dir: Path | None = None) -> None:
    """Django set up in this process on a fresh scratch PostgreSQL database (dropped and made again), migrated."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["BROKER_DATA_DIR"] = str(data_dir)
    if storage_dir is not None:
        os.environ["BROKER_STORAGE_DIR"] = str(storage_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
