"""Routing rules: which rules a completed study matches, and the attribute changes on the way out.

Pure functions: a rule's match fields against the study's facts. An empty field matches
anything; a field may list alternatives separated by backslashes or commas ("CT\\MR");
AE titles, stations and codes compare exactly, modality and body part ignore case; the study
description is a regular expression searched case-insensitively.
"""
import re
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, tag_for_keyword


@dataclass(frozen=True)
class StudyFacts:
    calling_ae: str = ""
    modalities: tuple[str, ...] = ()
    station_names: tuple[str, ...] = ()
    procedure_codes: tuple[str, ...] = ()
    body_parts: tuple[str, ...] = ()
    study_description: str = ""

    @classmethod
    def from_study(cls, study) -> "StudyFacts":
        def split(value: str) -> tuple[str, ...]:
            return tuple(v for v in value.split("\\") if v)

        codes = list(split(study.procedure_codes))
        if study.order_id is not None:
            codes += [p.code_value for p in study.order.requested_procedures.all() if p.code_value and p.code_value not in codes]
        return cls(calling_ae=study.calling_ae, modalities=split(study.modalities), station_names=split(study.station_names),
                   procedure_codes=tuple(codes), body_parts=split(study.body_parts), study_description=study.study_description)


def alternatives(field: str) -> list[str]:
    return [v.strip() for v in re.split(r"[\\,]", field) if v.strip()]


def _any_of(wanted: str, present, *, fold: bool = False) -> bool:
    options = alternatives(wanted)
    if not options:
        return True
    if fold:
        options = [o.upper() for o in options]
        present = [p.upper() for p in present]
    return any(p in options for p in present)


def description_matches(pattern: str, description: str) -> bool:
    if not pattern:
        return True
    try:
        return re.search(pattern, description, re.IGNORECASE) is not None
    except re.error:
        return False  # a broken pattern matches nothing rather than everything


def rule_matches(rule, facts: StudyFacts) -> bool:
    return (
        _any_of(rule.match_calling_ae, [facts.calling_ae])
        and _any_of(rule.match_modality, facts.modalities, fold=True)
        and _any_of(rule.match_station, facts.station_names)
        and _any_of(rule.match_procedure_code, facts.procedure_codes)
        and _any_of(rule.match_body_part, facts.body_parts, fold=True)
        and description_matches(rule.match_study_description, facts.study_description)
    )


def matching_rules(rules, facts: StudyFacts) -> list:
    """The enabled rules that match, in priority order."""
    return sorted((r for r in rules if r.enabled and rule_matches(r, facts)), key=lambda r: (r.priority, r.id or 0))


class InvalidAttributeChange(ValueError):
    pass


def validate_attribute_changes(changes: dict) -> None:
    for keyword, value in changes.items():
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise InvalidAttributeChange(f"{keyword!r} is not a DICOM keyword")
        if dictionary_VR(tag) == "SQ":
            raise InvalidAttributeChange(f"{keyword} is a sequence; only plain attributes can be changed")
        if value is not None and not isinstance(value, (str, int, float)):
            raise InvalidAttributeChange(f"{keyword}: give a text or number, or null to remove it")


def apply_attribute_changes(ds: Dataset, changes: dict) -> Dataset:
    """Set (or, for None, remove) top-level attributes by keyword; returns the same data set."""
    validate_attribute_changes(changes)
    for keyword, value in changes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds
