"""The configuration checks the admin forms and the commands share (broker.core.checks), as tables of cases."""
import pytest
from django.core.exceptions import ValidationError

from broker.core import checks
from broker.dicom.forms import check_character_set


@pytest.mark.parametrize("port, refused", [(1, False), (104, False), (65535, False), (None, False),
                                           (0, True), (65536, True), (99999, True), (-1, True)])
def test_it_checks_ports(port, refused):
    if refused:
        with pytest.raises(ValidationError, match=f"port {port} is not between 1 and 65535"):
            checks.check_port(port)
    else:
        assert checks.check_port(port) == port


@pytest.mark.parametrize("title, cleaned", [("PACS", "PACS"), ("  CT01 ", "CT01"), ("A" * 16, "A" * 16),
                                            ("MY AE", "MY AE"), ("ct-01_x.y", "ct-01_x.y")])
def test_it_accepts_ae_titles(title, cleaned):
    assert checks.check_ae_title(title) == cleaned


@pytest.mark.parametrize("title, words", [
    ("A" * 17, "1 to 16 characters .* has 17"),  # an error, never cut to 16
    ("", "1 to 16 characters"), ("   ", "1 to 16 characters"),
    ("CT\\01", "without a backslash"), ("CT\t01", "printable ASCII"), ("SCHRÖDER", "printable ASCII"),
])
def test_it_refuses_ae_titles(title, words):
    with pytest.raises(ValidationError, match=words):
        checks.check_ae_title(title)


@pytest.mark.parametrize("text, titles", [("CT01, CT02", ["CT01", "CT02"]), ("CT01\\MR01\nUS01", ["CT01", "MR01", "US01"]),
                                          ("", []), (" , ", [])])
def test_it_reads_lists_of_ae_titles(text, titles):
    assert checks.check_ae_titles(text) == titles


def test_it_names_the_ae_title_a_list_refuses():
    with pytest.raises(ValidationError, match="'CT0123456789ABCDEF' has 18"):
        checks.check_ae_titles("CT01, CT0123456789ABCDEF")


@pytest.mark.parametrize("value, cleaned", [("CT", "CT"), ("mr", "MR"), ("", ""), ("CHEST_WALL", "CHEST_WALL")])
def test_it_accepts_code_strings(value, cleaned):
    assert checks.check_code_string(value, "modality") == cleaned


@pytest.mark.parametrize("value", ["C-T", "A" * 17, "CT/MR"])
def test_it_refuses_code_strings(value):
    with pytest.raises(ValidationError, match="a modality is a DICOM code string"):
        checks.check_code_string(value, "modality")


@pytest.mark.parametrize("pattern, refused", [("^CT (THORAX|CHEST)", False), ("", False), ("(x", True),
                                              ("[a-", True), ("*CT", True)])
def test_it_compiles_regular_expressions(pattern, refused):
    if refused:
        with pytest.raises(ValidationError, match="not a regular expression"):
            checks.check_regex(pattern)
    else:
        assert checks.check_regex(pattern) == pattern


@pytest.mark.parametrize("text, refused", [("10.1.2.3", False), ("10.1.2.0/24", False), ("fd00::/8", False),
                                           ("", False), ("10.1.2", True), ("ris.example", True)])
def test_it_checks_networks(text, refused):
    if refused:
        with pytest.raises(ValidationError, match="is not an address"):
            checks.check_network(text)
    else:
        assert checks.check_network(text) == text


@pytest.mark.parametrize("value", ["", "ISO_IR 100", "ISO_IR 192", "GB18030", "ISO 2022 IR 6\\ISO 2022 IR 87",
                                   "\\ISO 2022 IR 87"])
def test_it_accepts_the_character_sets_the_worklist_answers_in(value):
    assert check_character_set(value) == value


@pytest.mark.parametrize("value", ["latin1", "UTF-8", "iso_ir 100", "ISO_IR 100\\ISO_IR 192"])
def test_it_refuses_other_character_sets_with_the_list(value):
    with pytest.raises(ValidationError) as refused:
        check_character_set(value)
    words = refused.value.messages[0]
    assert f"{value!r} is not a DICOM character set" in words
    assert "ISO_IR 100" in words and "ISO_IR 192" in words and "ISO 2022 IR 87" in words
