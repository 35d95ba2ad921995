"""The Error Comment every DICOM service sends: printable ASCII, one LO value, at most 64 characters."""
import pytest

from broker.dicom.error_comment import error_comment


@pytest.mark.parametrize("text, expected", [
    ("PatientID: one value only", "PatientID: one value only"),
    ("Specific Character Set 'ISO_IR 100\\ISO_IR 192' not supported",
     "Specific Character Set 'ISO_IR 100/ISO_IR 192' not supported"),
    ("Specific Character Set 'ISO_IR 100\ufffd' not supported", "Specific Character Set 'ISO_IR 100?' not supported"),
    ("M\u00fcller^J", "M?ller^J"),
    ("line one\nline two\t end", "line one line two end"),
    ("NUL\x00here", "NUL?here"),
    ("x" * 80, "x" * 64),
    ("a" * 63 + " b", "a" * 63),
    ("", ""),
], ids=["plain", "backslash", "replacement-char", "latin1", "whitespace", "nul", "long", "trailing-space", "empty"])
def test_it_makes_a_comment_safe_for_the_command_set(text, expected):
    assert error_comment(text) == expected


def test_it_keeps_a_longer_limit_for_staff():
    assert error_comment("Cannot understand: " + "y" * 300, 200) == ("Cannot understand: " + "y" * 300)[:200]


@pytest.mark.parametrize("text", ["ä" * 100, "\\" * 100, "\x7f\x80\xff", "名前\u3000テスト"])
def test_what_it_returns_encodes_as_one_ascii_lo_value(text):
    comment = error_comment(text)
    comment.encode("ascii")
    assert "\\" not in comment and len(comment) <= 64
    assert all(" " <= ch <= "~" for ch in comment)
