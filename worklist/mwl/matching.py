"""One pure function per matching type of PS3.4 C.2.2.2; each turns a request value into a `Q`.

None means "no constraint" (universal matching). Wildcards use the lookups of `lookups` (SQLite
GLOB, PostgreSQL LIKE, linear matchers in Python where SQL cannot say it): no backtracking regex.
"""
from functools import reduce
from operator import or_

from django.db.models import Q

from worklist.mwl import lookups  # noqa: F401  (registers the dicom_* lookups)
from worklist.mwl.values import EMPTY_VALUE, Range, has_wildcard, is_universal, split_uids
from worklist.mwl.wildcard import person_name_query
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


def wildcard_match(field: str, pattern: str) -> Q:
    q = Q(**{f"{field}__dicom_wildcard": pattern})
    prefix = literal_prefix(pattern)
    if prefix:
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


def text_match(field: str, text: str) -> Q | None:
    """Single value or wildcard on a text column, case-sensitive (PS3.4 C.2.2.2.1, C.2.2.2.4); a backslash
    list matches any of its values."""
    if is_universal(text):
        return universal_match(text)
    if text == EMPTY_VALUE:
        return empty_value_match(field)
    values = [v for v in text.split("\\") if v != ""]
    return any_of([wildcard_match(field, value) if has_wildcard(value) else single_value_match(field, value)
                   for value in values])


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


def person_name_match(field: str, text: str, *, search_column: bool = True) -> Q | None:
    """PN matching per component group (wildcard.person_name_query), each group compared exactly or, with
    wildcards, by the database's GLOB/LIKE; case-insensitive, the broker's choice (PS3.4 C.2.2.2.1).

    On a shadow column holding `search_key(name)` it is accent-insensitive too and a group-0 prefix uses the
    index; on a plain name column (`search_column=False`) groups are compared case-insensitively only."""
    if is_universal(text):
        return None
    if text == EMPTY_VALUE:
        return empty_value_match(field)
    qs = []
    for name in (v for v in text.split("\\") if v != ""):
        asked = person_name_query(search_key(name) if search_column else name)
        if not asked:
            return None  # "*=*", "^=": every group free, universal
        q = Q()
        for index, alternatives in asked:
            column = f"{field}__pn_group{index}"
            if search_column:
                prefix = literal_prefix(alternatives[0])
                if index == 0 and prefix:
                    q &= Q(**{f"{field}__startswith": prefix})  # the key starts with group 0: index use
                if index == 0 and has_wildcard(alternatives[0]):
                    # Implied by the group's match, and a plain GLOB/LIKE on the column: most rows fail here,
                    # before the group function runs.
                    q &= Q(**{f"{field}__dicom_wildcard": alternatives[0] + "*"})
                q &= any_of([Q(**{f"{column}__dicom_wildcard" if has_wildcard(p) else column: p})
                             for p in alternatives])
            else:
                q &= any_of([Q(**{f"{column}__dicom_iwildcard": p}) for p in alternatives])
        qs.append(q)
    return any_of(qs)
