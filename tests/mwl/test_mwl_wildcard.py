"""The wildcard engine as tables: translation and escaping per database, and the same answers as the old regexes.

The old engine turned a wildcard into a Python/PostgreSQL regular expression; `old_regex` and
`old_person_name_regex` are that translation, kept here as the reference semantics the new,
linear matching must reproduce (differential tests), on pure Python, SQLite's GLOB and, on
PostgreSQL, LIKE / the component regex.
"""
import re
import sqlite3
import time

import pytest
from django.db import connection

from worklist.mwl import wildcard
from worklist.names import search_key

_OLD_SPECIALS = set(".^$*+?()[]{}|\\-")


def old_literal(text):
    return "".join("\\" + ch if ch in _OLD_SPECIALS else ch for ch in text)


def old_regex(pattern):
    return "^" + "".join(".*" if ch == "*" else "." if ch == "?" else old_literal(ch) for ch in pattern) + "$"


def old_person_name_regex(query_name):
    key = search_key(query_name)
    if "*" in key or "?" in key:
        return old_regex(key)
    groups = key.split("=")
    while len(groups) > 1 and groups[-1].strip("^") == "":
        groups.pop()
    return "^" + "=".join(old_literal(g.rstrip("^")) + r"\^*" for g in groups) + "(=.*)?$"


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


PN_CASES = [
    ("DOE^JOHN", "DOE^JOHN"), ("doe^john", "DOE^JOHN^^^"), ("DOE^JOHN", "DOE^JOHN^Q"), ("DOE", "DOE^JOHN"),
    ("DOE*", "DOE^JOHN"), ("Müller^Jürgen", "MULLER^JURGEN"), ("muller^jurgen", "Müller^Jürgen=ミュラー"),
    ("*^ANNA", "SMITH^ANNA"), ("Yamada^Tarou=山田^太郎", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    ("*=山田*", "Yamada^Tarou=山田^太郎"), ("*=山田*", "Suzuki^Ichiro=鈴木^一郎"), ("DOE^JOHN=", "DOE^JOHN"),
    ("DOE^JOHN==", "DOE^JOHN=X"), ("DOE=ドウ", "DOE"), ("DOE=ドウ", "DOE^^=ドウ^^"), ("O'NEIL (J.)", "O'NEIL (J.)"),
    ("A.B^C+D", "AXB^C+D"), ("A[B]^%_\\", "A[B]^%_\\^"), ("", "X"),
]


@pytest.mark.parametrize("query, stored", PN_CASES)
def test_it_matches_person_names_like_the_old_regex(query, stored):
    key, stored_key = search_key(query), search_key(stored)
    expected = bool(re.match(old_person_name_regex(query), stored_key, re.DOTALL))
    if "*" in key or "?" in key:
        assert wildcard.glob_match(key, stored_key) is expected
    else:
        assert wildcard.person_name_match(key, stored_key) is expected


@pytest.mark.django_db
@pytest.mark.parametrize("query, stored", PN_CASES)
def test_it_matches_person_names_like_the_old_regex_in_postgresql(query, stored):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    key, stored_key = search_key(query), search_key(stored)
    if "*" in key or "?" in key:
        sql, pattern = "SELECT %s LIKE %s ESCAPE '\\'", wildcard.like_pattern(key)
    else:
        sql, pattern = "SELECT %s ~ %s", wildcard.person_name_regex(key)
    with connection.cursor() as cursor:
        cursor.execute(sql, [stored_key, pattern])
        [hit] = cursor.fetchone()
    assert hit is bool(re.match(old_person_name_regex(query), stored_key, re.DOTALL))


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
