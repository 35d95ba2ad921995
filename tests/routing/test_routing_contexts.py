"""Presentation contexts the router proposes, and its retry backoff: pure functions, tables of cases."""
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless
from pynetdicom import AllStoragePresentationContexts

from broker.routing.models import ROUTING_JOBS, StoredInstance
from broker.routing.sending import MAX_CONTEXTS, context_batches

CT = "1.2.840.10008.5.1.4.1.1.2"


def instance(sop_class=CT, syntax=ExplicitVRLittleEndian):
    return StoredInstance(sop_class_uid=sop_class, transfer_syntax_uid=syntax)


def test_it_proposes_the_stored_syntax_and_uncompressed_fallbacks_once_per_pair():
    batches = list(context_batches([instance(), instance(), instance(syntax=RLELossless)]))
    assert len(batches) == 1
    batch, contexts = batches[0]
    assert len(batch) == 3
    assert contexts == [(CT, ExplicitVRLittleEndian), (CT, ImplicitVRLittleEndian), (CT, RLELossless)]


def test_it_splits_a_study_needing_more_than_128_contexts_into_several_associations():
    classes = [cx.abstract_syntax for cx in AllStoragePresentationContexts][:60]  # 60 classes × 2 syntaxes = 120, + RLE ones
    instances = [instance(c) for c in classes] + [instance(c, RLELossless) for c in classes]
    batches = list(context_batches(instances))
    assert len(batches) == 3  # 120 + 8 RLE contexts; then 52 RLE instances × 3 contexts = 156 → 128 + 28
    assert all(len(contexts) <= MAX_CONTEXTS for _, contexts in batches)
    assert sum(len(batch) for batch, _ in batches) == len(instances)
    for batch, contexts in batches:  # every instance finds its own stored syntax in its association
        assert all((i.sop_class_uid, i.transfer_syntax_uid) in contexts for i in batch)


@pytest.mark.parametrize("attempts, seconds", [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (20, 3600)])
def test_it_backs_off_exponentially_up_to_the_ceiling(settings, attempts, seconds):
    settings.BROKER_ROUTING_BACKOFF_SECONDS = 30
    settings.BROKER_ROUTING_BACKOFF_MAX_SECONDS = 3600
    assert ROUTING_JOBS.backoff_seconds(attempts) == seconds
