"""Rule matching and attribute changes: pure functions, tables of cases."""
import pytest
from pydicom import Dataset

from broker.routing.models import RoutingRule
from broker.routing.rules import (
    InvalidAttributeChange,
    StudyFacts,
    apply_attribute_changes,
    matching_rules,
    rule_matches,
)

FACTS = StudyFacts(calling_ae="CT01", modalities=("CT", "SR"), station_names=("CTROOM1",), procedure_codes=("CTHEAD",),
                   body_parts=("HEAD",), study_description="CT Head without contrast")


@pytest.mark.parametrize("fields, matches", [
    ({}, True),
    ({"match_calling_ae": "CT01"}, True),
    ({"match_calling_ae": "CT02"}, False),
    ({"match_calling_ae": "CT02\\CT01"}, True),
    ({"match_modality": "ct"}, True),
    ({"match_modality": "MR"}, False),
    ({"match_modality": "MR,SR"}, True),
    ({"match_station": "CTROOM1"}, True),
    ({"match_station": "CTROOM2"}, False),
    ({"match_procedure_code": "CTHEAD"}, True),
    ({"match_procedure_code": "CTCHEST"}, False),
    ({"match_body_part": "head"}, True),
    ({"match_body_part": "CHEST"}, False),
    ({"match_study_description": r"head\b"}, True),
    ({"match_study_description": r"^MR"}, False),
    ({"match_study_description": r"(unclosed"}, False),
    ({"match_modality": "CT", "match_station": "CTROOM2"}, False),
    ({"match_modality": "CT", "match_calling_ae": "CT01", "match_body_part": "HEAD"}, True),
])
def test_it_matches_rules_on_study_facts(fields, matches):
    assert rule_matches(RoutingRule(name="r", **fields), FACTS) is matches


def test_it_orders_matching_rules_by_priority_and_skips_disabled_ones():
    rules = [RoutingRule(id=1, name="late", priority=200), RoutingRule(id=2, name="off", enabled=False, priority=1),
             RoutingRule(id=3, name="first", priority=10), RoutingRule(id=4, name="mr", match_modality="MR")]
    assert [r.name for r in matching_rules(rules, FACTS)] == ["first", "late"]


@pytest.mark.parametrize("changes, expected", [
    ({"InstitutionName": "CITY"}, {"InstitutionName": "CITY", "IssuerOfPatientID": "HOSP"}),
    ({"IssuerOfPatientID": None}, {"InstitutionName": "GENERAL", "IssuerOfPatientID": None}),
    ({"IssuerOfPatientID": "CITY", "InstitutionName": "X"}, {"InstitutionName": "X", "IssuerOfPatientID": "CITY"}),
])
def test_it_applies_attribute_changes(changes, expected):
    ds = Dataset()
    ds.InstitutionName, ds.IssuerOfPatientID = "GENERAL", "HOSP"
    apply_attribute_changes(ds, changes)
    assert {k: ds.get(k) for k in expected} == expected


@pytest.mark.parametrize("changes, message", [
    ({"NoSuchKeyword": "x"}, "not a DICOM keyword"),
    ({"ReferencedStudySequence": "x"}, "is a sequence"),
    ({"InstitutionName": ["a"]}, "give a text or number"),
])
def test_it_refuses_invalid_attribute_changes(changes, message):
    with pytest.raises(InvalidAttributeChange, match=message):
        apply_attribute_changes(Dataset(), changes)
