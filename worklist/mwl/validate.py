"""Checks on every value of a C-FIND identifier before it reaches a key: one value where one is allowed,
no NUL byte, not only empty values, not more values than BROKER_MWL_MAX_VALUES_PER_KEY, no value longer
than its VR allows (PS3.5 Table 6.2-1; the database's own matching has limits of its own on pattern size),
no person name of more than three component groups (PS3.5 6.2.1.2), every UID a UID (PS3.5 9.1: a value
that is not one could match nothing, and the modality learns more from a refusal than from "no match").

Each problem is an InvalidIdentifier naming the attribute (the handler answers 0xA900 with it as
the Offending Element). Pure: reads the identifier only.
"""
from worklist.mwl.keys import SPS_KEYS, TOP_KEYS
from worklist.mwl.values import InvalidIdentifier, as_text, is_universal
from worklist.uids import uid_problem

# Matching types whose keys take one value (a date, a time or a range of them: PS3.4 C.2.2.2.5).
SINGLE_VALUED_MATCHES = {"date", "start_date", "start_time"}
SPS = "ScheduledProcedureStepSequence"

# Maximum characters of one value per VR (PS3.5 Table 6.2-1); a range (DA, TM, DT) is two values and a dash
# (a date may come as ACR-NEMA YYYY.MM.DD),
# a person name up to three component groups of 64 and their '=' delimiters. Other VRs: MAX_OTHER_VALUE.
MAX_VALUE_LENGTH = {
    "AE": 16, "AS": 4, "CS": 16, "DA": 10 * 2 + 1, "DS": 16, "DT": 26 * 2 + 1, "IS": 12, "LO": 64,
    "PN": 64 * 3 + 2, "SH": 16, "TM": 16 * 2 + 1, "UI": 64,
}
MAX_OTHER_VALUE = 1024


def check_identifier(identifier, *, max_values: int) -> None:
    _check_dataset(identifier, TOP_KEYS, "", max_values)


def _check_dataset(dataset, keys, prefix: str, max_values: int) -> None:
    for elem in dataset:
        if elem.tag.element == 0:
            continue
        keyword = elem.keyword or str(elem.tag)
        name = prefix + keyword
        if elem.VR == "SQ":
            inner = SPS_KEYS if keyword == SPS and not prefix else {}
            for item in elem.value or []:
                _check_dataset(item, inner, name + ">", max_values)
            continue
        if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
            continue
        _check_value(elem, name, keyword, keys.get(keyword), max_values)


def _check_value(elem, name: str, keyword: str, key, max_values: int) -> None:
    text = as_text(elem.value)
    if "\x00" in text.rstrip("\x00" if elem.VR == "UI" else ""):
        raise InvalidIdentifier(name, f"{keyword}: NUL byte in the value")
    values = text.split("\\")
    longest = max(len(value) for value in values)
    limit = MAX_VALUE_LENGTH.get(elem.VR, MAX_OTHER_VALUE)
    if longest > limit:
        raise InvalidIdentifier(name, f"{keyword}: a value of {longest} characters, at most {limit} ({elem.VR})")
    if elem.VR == "UI":
        for value in values:
            uid = value.rstrip(" \x00")  # trailing padding; a leading space is not a UID
            if uid and not is_universal(uid) and (problem := uid_problem(uid)) is not None:
                raise InvalidIdentifier(name, f"{keyword}: {uid[:24]!r} {problem}")
    if elem.VR == "PN" and any(value.count("=") > 2 for value in values):
        # Alphabetic, ideographic, phonetic (PS3.5 6.2.1.2): a fourth group cannot be matched against anything.
        raise InvalidIdentifier(name, f"{keyword}: more than 3 component groups")
    if len(values) == 1:
        return
    if not any(v.strip() for v in values):
        raise InvalidIdentifier(name, f"{keyword}: only empty values")
    if key is not None and key.match in SINGLE_VALUED_MATCHES:
        raise InvalidIdentifier(name, f"{keyword}: one value only, got {len(values)}")
    if len(values) > max_values:
        raise InvalidIdentifier(name, f"{keyword}: {len(values)} values, at most {max_values}")
