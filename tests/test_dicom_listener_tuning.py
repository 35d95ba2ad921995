"""Listener tuning: cheap per-association context copies; start-up objects kept out of the garbage collector."""
import copy
import gc

from broker.dicom import listener
from broker.dicom.supported_contexts import SupportedContexts


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
