"""Plain helpers about the services the suite needs: is a port open, a free port, skip (or fail in CI) when missing."""
import os
import socket

import pytest

# In CI every external part must be there: a missing one fails the run instead of skipping.
REQUIRE_SERVICES = os.environ.get("BROKER_TEST_REQUIRE_SERVICES", "") == "1"


def missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (BROKER_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
