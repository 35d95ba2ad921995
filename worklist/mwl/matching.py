"""One pure function per matching type of PS3.4 C.2.2.2; each turns a request value into a `Q`.

None means "no constraint" (universal matching). Wildcards use the lookups of `lookups` (SQLite
GLOB, PostgreSQL LIKE, linear matchers in Python where SQL cannot say it): no backtracking regex.
"""
from functools import reduce
from operator import or_

from django.db.models import Q

from worklist.mwl import lookups  # noqa: F401  (registers the dicom_* lookups)
from worklist.mwl.values import EMPTY_VALUE, Range, has_wildcard, is_universal, split_uids
from worklist.names import search_key


def literal_prefix(pattern: str) -> str:
    """The characters before the first wildcard: lets the database use an index (LIKE 'ABC%')."""
    for index, ch in enumerate(pattern):
        if ch in "*?":
            return pattern[:index]
    return pattern


def any_of(qs: list[Q]) -> Q:
    return reduce(or_, qs)


# --- the matching types ---

def universal_match(text: str) -> None:
    return None


def single_value_match(field: str, text: str) -> Q:
    return Q(**{field: text})


def empty_value_match(field: str, *, nullable: bool = False) -> Q:
    q = Q(**{field: ""}) if not nullable else Q(**{f"{field}__isnull": True})
    return q


def wildcard_match(field: str, pattern: str, *, ignore_case: bool = False) -> Q:
    q = Q(**{f"{field}__{'dicom_iwildcard' if ignore_case else 'dicom_wildcard'}": pattern})
    prefix = literal_prefix(pattern)
    if prefix and not ignore_case:
        q &= Q(**{f"{field}__startswith": prefix})
    return q


def range_match(field: str, rng: Range) -> Q:
    """Inclusive on both sides; an open side is unconstrained (C.2.2.2.5)."""
    q = Q(**{f"{field}__isnull": False})
    if rng.low is not None:
        q &= Q(**{f"{field}__gte": rng.low})
    if rng.high is not None:
        q &= Q(**{f"{field}__lte": rng.high})
    return q


def uid_list_match(field: str, text: str) -> Q:
    uids = split_uids(text)
    return Q(**{field: uids[0]}) if len(uids) == 1 else Q(**{f"{field}__in": uids})


def text_match(field: str, text: str, *, ignore_case: bool = False) -> Q | None:
    """Single value or wildcard on a text column; a backslash list matches any of its values."""
    if is_universal(text):
        return universal_match(text)
    if text == EMPTY_VALUE:
        return empty_value_match(field)
    values = [v for v in text.split("\\") if v != ""]
    qs = []
    for value in values:
        if has_wildcard(value):
            qs.append(wildcard_match(field, value, ignore_case=ignore_case))
        elif ignore_case:
            qs.append(Q(**{f"{field}__iexact": value}))
        else:
            qs.append(single_value_match(field, value))
    return any_of(qs)


def multi_valued_match(field: str, text: str) -> Q | None:
    """Match against a column that stores a VM>1 value joined by '\\' (a pool of station AE titles).

    A stored entity matches when any of its values matches (C.2.2.3).
    """
    if is_universal(text):
        return None
    if text == EMPTY_VALUE:
        return empty_value_match(field)
    qs = []
    for value in (v for v in text.split("\\") if v != ""):
        in_pool = Q(**{f"{field}__dicom_pool": value})
        if has_wildcard(value):
            qs.append(in_pool)
        else:
            # A single stored value is compared as it is; the pool matcher (a Python call per row on
            # SQLite) only runs on the few columns that hold a pool.
            qs.append(Q(**{field: value}) | (Q(**{f"{field}__contains": "\\"}) & in_pool))
    return any_of(qs)


def person_name_match(search_field: str, text: str) -> Q | None:
    """Case- and accent-insensitive PN matching on a shadow column holding `search_key(name)`."""
    if is_universal(text):
        return None
    if text == EMPTY_VALUE:
        return empty_value_match(search_field)
    qs = []
    for name in (v for v in text.split("\\") if v != ""):
        key = search_key(name)
        if has_wildcard(key):
            q = Q(**{f"{search_field}__dicom_wildcard": key})  # wildcards span components ("DOE*")
        else:
            # Per component group, trailing empty components ignored (wildcard.person_name_match).
            q = Q(**{f"{search_field}__dicom_pn": key})
        prefix = literal_prefix(key)
        if prefix:
            q &= Q(**{f"{search_field}__startswith": prefix.split("=")[0]})
        qs.append(q)
    return any_of(qs)
