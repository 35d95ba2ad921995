"""Listener tuning: cheap context copies, start-up objects out of the GC, database checks off the query path."""
import copy
import gc
import threading

import pytest
from django.db import connections

from broker.core import db_threads
from broker.core.dicom_net.contexts import SupportedContexts
from broker.dicom import db_work, listener
from broker.dicom.models import WorklistQuery
from tests.waiting import wait_until


def test_it_copies_every_context_with_its_own_transfer_syntax_list():
    contexts = SupportedContexts(listener.build_ae().supported_contexts)
    copied = copy.deepcopy(contexts)
    assert [(c.abstract_syntax, c.transfer_syntax, c.context_id, c.as_scp, c.as_scu) for c in copied] == \
           [(c.abstract_syntax, c.transfer_syntax, c.context_id, c.as_scp, c.as_scu) for c in contexts]
    copied[0].transfer_syntax = ["1.2.840.10008.1.2"]
    copied[1].context_id = 99
    assert len(contexts[0].transfer_syntax) > 1
    assert contexts[1].context_id != 99


def test_it_exempts_the_startup_objects_from_garbage_collection():
    try:
        listener.freeze_startup_objects()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()




@pytest.mark.parametrize("recently, checked_at_start", [(1.0, True), (0.0, False)],
                         ids=["unit right after another", "unit after a pause"])
def test_it_checks_the_connection_after_each_unit_so_the_next_one_starts_at_once(workers, monkeypatch,
                                                                                 recently, checked_at_start):
    monkeypatch.setattr(db_threads, "CHECKED_RECENTLY_SECONDS", recently)
    assert workers.run(WorklistQuery.objects.count) == 0
    # A pending health check would cost a SELECT 1 round trip before this unit's first query.
    assert workers.run(lambda: connections["default"].health_check_done) is checked_at_start


def test_it_answers_before_checking_the_connection(transactional_db, monkeypatch):
    checking, may_finish, checked = threading.Event(), threading.Event(), threading.Event()

    def slow_check():
        checking.set()
        may_finish.wait(timeout=10)
        checked.set()

    monkeypatch.setattr(db_threads, "_check_now", slow_check)
    try:
        assert db_work.run(lambda: "answer") == "answer"
        assert not checked.is_set()
        assert wait_until(checking.is_set)  # the check does run, after the caller got its answer
    finally:
        may_finish.set()
        db_work.shutdown()
