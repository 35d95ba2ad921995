"""The listener's database thread pool: the last idle thread takes the next job; bounded; drains at shutdown."""
import threading

import pytest

from broker.core.db_threads import LastIdleFirstExecutor
from tests.waiting import wait_until


def test_it_runs_one_sender_s_consecutive_jobs_on_one_thread(pool):
    threads = {pool.submit(threading.get_ident).result(timeout=10) for _ in range(50)}
    assert len(threads) == 1


def test_it_runs_at_most_max_workers_jobs_at_once_and_then_the_backlog(pool):
    release = threading.Event()
    lock = threading.Lock()
    running = {"now": 0, "most": 0}

    def job(n):
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        release.wait(10)
        with lock:
            running["now"] -= 1
        return n

    futures = [pool.submit(job, n) for n in range(8)]
    wait_until(lambda: running["now"] >= 3, 10, message="three jobs running")
    # Held until released: a fourth thread would start a fourth job within this grace time (it takes microseconds).
    with pytest.raises(AssertionError, match="timed out"):
        wait_until(lambda: running["now"] > 3, 0.5, message="a fourth job running")
    assert sum(f.done() for f in futures) == 0
    release.set()
    assert [f.result(timeout=10) for f in futures] == list(range(8))
    assert running["most"] == 3


def test_it_hands_a_job_s_exception_to_its_future(pool):
    def fail():
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        pool.submit(fail).result(timeout=10)
    assert pool.submit(lambda: "still serving").result(timeout=10) == "still serving"


def test_it_finishes_submitted_jobs_at_shutdown_and_refuses_new_ones():
    executor = LastIdleFirstExecutor(1)
    gate = threading.Event()
    futures = [executor.submit(gate.wait, 10)] + [executor.submit(lambda n=n: n) for n in range(3)]
    gate.set()
    executor.shutdown(wait=True)
    assert [f.result(timeout=0) for f in futures] == [True, 0, 1, 2]
    with pytest.raises(RuntimeError):
        executor.submit(lambda: None)
