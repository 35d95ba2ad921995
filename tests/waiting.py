"""Waiting on a condition with a deadline: the one way tests wait for a listener, a worker or a peer."""
import time


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.02, message: str = ""):
    """Poll `predicate` until it returns something truthy and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or predicate}")
        time.sleep(interval)  # the polling interval of a deadline wait, not a fixed wait for readiness
