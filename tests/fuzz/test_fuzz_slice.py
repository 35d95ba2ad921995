"""A bounded slice of the fuzzing campaign (bench/fuzz.py, same code) against the real listener processes.

About 300 cases over every kind, a fixed seed, bounded at 200 s (72-98 s measured on a 2-core
machine at load average 10-15): both listeners stay alive, every health
check after a batch passes (a good order gets AA and a C-ECHO succeeds), and no kind hangs, loses an order or
leaves a traceback, except the kinds listed in KNOWN_FAILING. The database is a scratch SQLite file, or on the
PostgreSQL pass a scratch database next to the test database (<name>_fuzz_slice).
"""
import os
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.fuzz import Campaign
from bench.fuzz_cases import KINDS

SEED = 15
CASES = 300

# THE list of kinds that still fail on this branch, each with the finding (issue 15) it reproduces. After
# merging a fix, delete its line: the slice then proves the fix holds. For these kinds, and only these, a
# hang, a lost order, a traceback or a failed health check after their batch does not fail the slice.
KNOWN_FAILING: dict[str, str] = {}


def scratch_database_url() -> str | None:
    """On the PostgreSQL pass: a fresh database next to the test database, for the listener processes."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'broker'}_fuzz_slice"
    server = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def slice_result():
    campaign = Campaign(cases=CASES, seed=SEED, max_seconds=200, case_timeout=3.0, health_timeout=10.0, workers=2,
                        batch=10, max_hangs_per_kind=1, recovery_seconds=20.0, database_url=scratch_database_url(),
                        command=f"tests/fuzz/test_fuzz_slice.py (seed {SEED}, {CASES} cases)", progress=lambda *_: None)
    try:
        yield campaign.run()
    finally:
        campaign.cleanup()


def test_it_runs_every_kind(slice_result):
    assert len(KINDS) >= 40
    assert {name for name, kind in slice_result.kinds.items() if kind.cases} == set(KINDS)
    assert not slice_result.stopped_early


def test_it_keeps_both_listeners_alive(slice_result):
    assert slice_result.crashes == 0, {n: k.crashes for n, k in slice_result.kinds.items() if k.crashes}


def test_it_passes_every_health_check_after_the_batches_of_kinds_that_should_pass(slice_result):
    failed = [(kind, problem) for kind, problem, _ in slice_result.health_failed if kind not in KNOWN_FAILING]
    assert slice_result.health_passed > 0
    assert failed == []


def test_it_finds_no_hang_lost_order_or_traceback_outside_the_known_failing_kinds(slice_result):
    unexpected = {name: reasons for name, reasons in slice_result.failing_kinds().items() if name not in KNOWN_FAILING}
    assert unexpected == {}, "\n".join(f"{name}: {'; '.join(reasons)}" for name, reasons in unexpected.items())


def test_it_lists_only_kinds_that_exist():
    assert set(KNOWN_FAILING) <= set(KINDS)
