"""The per-association copy of the listener's contexts is complete and independent of the original."""
import copy

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
