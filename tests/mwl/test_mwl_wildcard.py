"""The wildcard engine as tables: translation and escaping per database, and the same answers as the old regexes.

The old engine turned a wildcard into a Python/PostgreSQL regular expression; `old_regex` is that
translation, kept here as the reference semantics the new, linear matching must reproduce (differential
tests), on pure Python, SQLite's GLOB and PostgreSQL's LIKE. Person names have their own table: per
component group, on both databases.
"""
import re
import sqlite3
import time

import pytest
from django.db import connection
from django.db.models import Q

from tests.factories import make_patient
from worklist.models import Patient
from worklist.mwl import wildcard
from worklist.mwl.matching import person_name_match
from worklist.names import search_key

_OLD_SPECIALS = set(".^$*+?()[]{}|\\-")


def old_literal(text):
    return "".join("\\" + ch if ch in _OLD_SPECIALS else ch for ch in text)


def old_regex(pattern):
    return "^" + "".join(".*" if ch == "*" else "." if ch == "?" else old_literal(ch) for ch in pattern) + "$"


# Every special character of GLOB ([ ] * ?), LIKE (% _ \) and regex (. ^ $ + ( ) { } | -) as a literal.
CASES = [
    ("CT*", "CT01"), ("CT*", "MR01"), ("C?01", "CT01"), ("C?01", "CTT01"), ("*01", "CT01"), ("*", ""),
    ("?", ""), ("??", "ab"), ("*?", ""), ("*?", "a"), ("a*b*c", "aXbYc"), ("a*b*c", "aXbYcZ"), ("a*a", "a"),
    ("*a*a*", "aa"), ("*a*a*", "a"), ("A.B*", "AXB1"), ("A.B*", "A.B1"), ("(1)*", "(1)x"), ("1+1*", "1+12"),
    ("a\\b*", "a\\bc"), ("[AB]*", "[AB]1"), ("[AB]*", "A1"), ("]*", "]x"), ("a[*", "a[b"), ("50%*", "50%off"),
    ("50%*", "50x"), ("a_b?", "a_bc"), ("a_b?", "aXbc"), ("^x$*", "^x$y"), ("{1}|?", "{1}|z"),
    ("a-b*", "a-bc"), ("*\\", "x\\"), ("*é?", "café!"), ("山*", "山田"), ("?田", "山田"), ("*#", "x" * 60),
]
# Where the old regex takes seconds to hours (so its answer is written down instead of computed).
HOSTILE = [("*?*?*?*?*?*?*?*#", "A" * 59 + "#", True), ("*?*?*?*?*?*?*?*#", "A" * 60, False),
           ("*?" * 12 + "*#", "A" * 60, False), ("*?" * 12 + "*#", "#" * 60, True), ("*a" * 30, "a" * 29, False)]


@pytest.mark.parametrize("pattern, value", CASES)
def test_it_matches_like_the_old_regex_in_python(pattern, value):
    assert wildcard.glob_match(pattern, value) is bool(re.match(old_regex(pattern), value, re.DOTALL))


@pytest.mark.parametrize("pattern, value", CASES)
def test_it_matches_like_the_old_regex_in_sqlite_glob(pattern, value):
    db = sqlite3.connect(":memory:")
    [(hit,)] = db.execute("SELECT ? GLOB ?", (value, wildcard.sqlite_glob(pattern))).fetchall()
    assert bool(hit) is bool(re.match(old_regex(pattern), value, re.DOTALL))


@pytest.mark.parametrize("pattern, value, expected", HOSTILE)
def test_it_answers_hostile_patterns_at_once_in_python_and_sqlite(pattern, value, expected):
    db = sqlite3.connect(":memory:")
    started = time.perf_counter()
    [(hit,)] = db.execute("SELECT ? GLOB ?", (value, wildcard.sqlite_glob(pattern))).fetchall()
    assert (wildcard.glob_match(pattern, value), bool(hit)) == (expected, expected)
    assert time.perf_counter() - started < 0.5


@pytest.mark.django_db
@pytest.mark.parametrize("pattern, value", CASES)
def test_it_matches_like_the_old_regex_in_postgresql_like(pattern, value):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s LIKE %s ESCAPE '\\'", [value, wildcard.like_pattern(pattern)])
        [hit] = cursor.fetchone()
    assert hit is bool(re.match(old_regex(pattern), value, re.DOTALL))


@pytest.mark.django_db
@pytest.mark.parametrize("pattern, value, expected", HOSTILE)
def test_it_answers_hostile_patterns_at_once_in_postgresql_like(pattern, value, expected):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s LIKE %s ESCAPE '\\'", [value, wildcard.like_pattern(pattern)])
        [hit] = cursor.fetchone()
    assert hit is expected
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("pattern, expected", [
    ("CT*", "CT*"), ("C?01", "C?01"), ("[AB]*", "[[]AB]*"), ("a]b", "a]b"), ("50%_\\", "50%_\\"),
])
def test_it_translates_wildcards_to_sqlite_glob(pattern, expected):
    assert wildcard.sqlite_glob(pattern) == expected


@pytest.mark.parametrize("pattern, expected", [
    ("CT*", "CT%"), ("C?01", "C_01"), ("50%", "50\\%"), ("a_b", "a\\_b"), ("a\\b", "a\\\\b"), ("[x]", "[x]"),
])
def test_it_translates_wildcards_to_like_with_escapes(pattern, expected):
    assert wildcard.like_pattern(pattern) == expected


@pytest.mark.parametrize("text, expected", [("a*b", "a[*]b"), ("a?b", "a[?]b"), ("a[b", "a[[]b"), ("a]b", "a]b")])
def test_it_writes_glob_literals(text, expected):
    assert wildcard.sqlite_glob_literal(text) == expected


# Person names (PS3.5 6.2, PS3.4 C.2.2.2.1): per component group, trailing delimiters not counted, case and
# accents ignored (the broker's documented choice), an empty or "*" group left free.
PN_CASES = [
    ("DOE^JOHN", "DOE^JOHN", True), ("DOE^JOHN^", "DOE^JOHN", True), ("DOE^JOHN^^^", "DOE^JOHN", True),
    ("DOE^JOHN", "DOE^JOHN^^^", True), ("doe^john", "DOE^JOHN^^^", True), ("DOE^JOHN", "DOE^JOHN^Q", False),
    ("DOE", "DOE^JOHN", False), ("DOE^JOHN=", "DOE^JOHN", True), ("DOE^JOHN==", "DOE^JOHN=X", True),
    ("DOE^JOHN", "DOE^JOHN=ドウ^ジョン", True), ("DOE=ドウ", "DOE", False), ("DOE=ドウ", "DOE^^=ドウ^^", True),
    ("Müller^Jürgen", "MULLER^JURGEN", True), ("muller^jurgen", "Müller^Jürgen=ミュラー", True),
    ("=山田^太郎", "Yamada^Tarou=山田^太郎=やまだ^たろう", True), ("=山田^太郎", "Suzuki^Ichiro=鈴木^一郎", False),
    ("=山田^太郎^", "=山田^太郎", True), ("=山田^太郎", "山田^太郎", False),
    ("Yamada^Tarou==やまだ^たろう", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
    ("Yamada^Tarou==やまだ^たろう", "Yamada^Tarou=山田^太郎", False),
    ("Yamada^Tarou==やまだ^たろう", "Yamada^Tarou=山田^太郎=すずき^たろう", False),
    ("==やまだ^たろう", "=山田^太郎=やまだ^たろう^^", True),
    ("DOE*", "DOE^JOHN=ドウ^ジョン", True), ("*^ANNA", "SMITH^ANNA=スミス^アンナ", True), ("*^ANNA", "SMITH^ANNABEL", False),
    ("DOE^J*", "DOE^JOHN", True), ("DOE^*", "DOE", True), ("DOE^*", "DOE^JOHN", True), ("DOE^*", "DOEX", False),
    ("*=山田*", "Yamada^Tarou=山田^太郎", True), ("*=山田*", "Suzuki^Ichiro=鈴木^一郎", False),
    ("=山?^太郎", "Yamada^Tarou=山田^太郎", True), ("==や*", "=山田^太郎=やまだ^たろう", True), ("==や*", "=山田^太郎", False),
    ("O'NEIL (J.)", "O'NEIL (J.)", True), ("A.B^C+D", "AXB^C+D", False), ("A[B]^%_", "A[B]^%_^", True),
    ("A_B*", "AXB^C", False), ("50%*", "50X", False), ("*=*", "ANYONE", True),
]


@pytest.mark.parametrize("query, stored, expected", PN_CASES)
def test_it_matches_person_names_per_component_group(query, stored, expected):
    assert wildcard.person_name_match(search_key(query), search_key(stored)) is expected


@pytest.mark.django_db
@pytest.mark.parametrize("query, stored, expected", PN_CASES)
def test_it_matches_person_names_per_component_group_in_the_database(query, stored, expected):
    """The same table through the ORM: SQLite (GLOB, the group function) and PostgreSQL (LIKE, split_part)."""
    patient = make_patient(name=stored)
    q = person_name_match("name_search", query)
    assert Patient.objects.filter(q if q is not None else Q(), pk=patient.pk).exists() is expected


@pytest.mark.parametrize("stored, groups", [
    ("DOE^JOHN^^=ドウ^^", ["DOE^JOHN", "ドウ", ""]), ("=山田", ["", "山田", ""]), ("A==C^", ["A", "", "C"]), ("", ["", "", ""]),
])
def test_it_reads_the_component_groups_of_a_stored_name(stored, groups):
    assert [wildcard.person_name_group(stored, i) for i in range(3)] == groups


@pytest.mark.parametrize("pattern, pool, expected", [
    ("CT01", "CT01", True), ("CT01", "MR01\\CT01", True), ("CT*", "MR01\\CT02", True), ("C*1", "CT\\MR1", False),
    ("?", "A\\BC", True), ("CT01", "CT011\\MR", False), ("CT01", None, False), ("[X]", "A\\[X]", True),
])
def test_it_matches_a_pool_when_one_value_matches(pattern, pool, expected):
    assert wildcard.pool_match(pattern, pool) is expected


def test_it_matches_the_hostile_pattern_in_linear_time():
    pattern = "*?" * 12 + "*#"  # 26 characters: the old regex needed hours for this against 60 characters
    started = time.perf_counter()
    for _ in range(100):
        assert wildcard.glob_match(pattern, "A" * 60) is False
    assert time.perf_counter() - started < 1.0
