"""The one thread policy for listener database work (broker.core.db_threads), seen through both listeners."""
import threading

import pytest
from django.db import connections, transaction

from broker.core import db_threads
from broker.core.db_threads import DatabaseThreads
from broker.core.hl7v2.mllp import MLLPClient
from broker.dicom import db_work, listener
from broker.hl7.server import start_server
from tests.hl7.support import adt, msa, pid
from tests.mwl.support import final_status, find, identifier
from worklist.models import Patient

UNITS = 8


def hl7_units(setting_value):
    running = start_server("127.0.0.1", 0, block=False)
    try:
        with MLLPClient("127.0.0.1", running.port, timeout=30) as client:
            codes = [msa(client.send(adt(patient=pid(patient_id=f"P{n}"))))[0] for n in range(UNITS)]
        assert codes == ["AA"] * UNITS
        assert Patient.objects.count() == UNITS
        return running.server._executor
    finally:
        running.shutdown()


def dicom_units(setting_value):
    db_work.shutdown()
    server = listener.start("127.0.0.1", 0)
    try:
        statuses = [final_status(find(server.server_address[1], identifier())) for _ in range(UNITS)]
        assert statuses == [0x0000] * UNITS
        return db_work.threads()
    finally:
        server.shutdown()


# An HL7 sender waits for each ACK (sent from the unit itself, a moment before its thread is back in line); a
# DICOM association's query-log write is not waited for: a unit may overlap the next one, two threads at most.
# (That the last idle thread takes the next job is shown on the executor itself, in test_hl7_workers.py.)
@pytest.mark.parametrize("units, setting, prefix, most_threads", [
    (hl7_units, "BROKER_HL7_WORKERS", "hl7-intake", 2),
    (dicom_units, "BROKER_DICOM_DB_THREADS", "dicom-db", 2),
], ids=["hl7 listener", "dicom listener"])
def test_it_runs_each_listener_s_database_work_on_the_one_executor(transactional_db, settings, units, setting,
                                                                     prefix, most_threads):
    setattr(settings, setting, 4)
    executor = units(4)
    assert type(executor) is DatabaseThreads
    assert executor._max_workers == 4  # the listener's own setting bounds it
    # One sender after another: the units ran on the thread that had just become idle (its warm connection),
    # another thread starting only when two units overlapped.
    assert executor.thread_names == [f"{prefix}_{n}" for n in range(len(executor.thread_names))]
    assert 1 <= len(executor.thread_names) <= most_threads


@pytest.fixture
def threads(transactional_db):
    pool = DatabaseThreads(2, name="test-db")
    yield pool
    pool.shutdown()


def connection_in_use():
    Patient.objects.count()
    return connections["default"].connection  # the DB-API connection itself (kept, so never reused)


def test_it_keeps_a_healthy_connection_from_one_unit_to_the_next(threads):
    # SQLite runs with CONN_MAX_AGE=0 here: read as "no age limit" for these long-lived threads.
    first = threads.run(connection_in_use)
    assert all(threads.run(connection_in_use) is first for _ in range(4))


def test_it_drops_a_connection_a_unit_left_inside_a_transaction(threads):
    before = threads.run(connection_in_use)

    def leave_a_transaction_open():
        transaction.set_autocommit(False)
        Patient.objects.count()

    threads.run(leave_a_transaction_open)
    after = threads.run(lambda: (connection_in_use(), connections["default"].get_autocommit()))
    assert after[0] is not before and after[1] is True


def test_it_hands_a_unit_s_exception_to_the_caller_and_keeps_serving(threads):
    def broken():
        raise LookupError("no such row")

    with pytest.raises(LookupError, match="no such row"):
        threads.run(broken)
    assert threads.run(Patient.objects.count) == 0


def test_it_closes_every_thread_s_connection_at_shutdown(transactional_db):
    pool = DatabaseThreads(2, name="test-db")
    gate = threading.Barrier(2, timeout=10)

    def hold_a_connection():
        Patient.objects.count()
        gate.wait()
        return connections["default"]

    used = [future.result(timeout=10) for future in [pool.submit(hold_a_connection) for _ in range(2)]]
    assert all(connection.connection is not None for connection in used)
    pool.shutdown()
    assert all(connection.connection is None for connection in used)


def test_it_keeps_serving_when_the_check_up_after_a_unit_fails(monkeypatch, caplog):
    def broken_check():
        raise RuntimeError("health check exploded")

    monkeypatch.setattr(db_threads, "_check_now", broken_check)
    pool = DatabaseThreads(1, name="test-db")
    try:
        assert [pool.submit(lambda n=n: n).result(timeout=10) for n in range(3)] == [0, 1, 2]
    finally:
        pool.shutdown()
    assert "the check-up after a unit failed" in caplog.text
