"""The UID rule of PS3.5 9.1, as a table."""
import pytest

from worklist.uids import is_valid_uid, uid_problem


@pytest.mark.parametrize("value", [
    "1.2", "1.2.840.10008.1.1", "0.0", "1.0.3", "2.25.329800735698586629295641978511506172918",
    "1." + "2" * 62,
])
def test_it_accepts_a_valid_uid(value):
    assert uid_problem(value) is None
    assert is_valid_uid(value)


@pytest.mark.parametrize("value, problem", [
    ("", "is empty"),
    (".", "has an empty component"),
    ("..", "has an empty component"),
    ("1..2.3", "has an empty component"),
    ("1.2.3.", "has an empty component"),
    (".1.2", "has an empty component"),
    ("1.02.003", "has a component with a leading zero"),
    ("01.2", "has a component with a leading zero"),
    ("123", "has a single component"),
    ("1.2.3 ", "has characters other than digits and dots"),
    ("1.2/../3", "has characters other than digits and dots"),
    ("1.2.3\x00", "has characters other than digits and dots"),
    ("1.2.a", "has characters other than digits and dots"),
    ("1." + "2" * 63, "is 65 characters long"),
])
def test_it_names_what_is_wrong_with_an_invalid_uid(value, problem):
    assert uid_problem(value).startswith(problem)
    assert not is_valid_uid(value)
