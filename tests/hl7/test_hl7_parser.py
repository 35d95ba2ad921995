"""The lean HL7 parser and the ACK builder, as tables of cases."""
import pytest

from broker.hl7 import parser
from broker.hl7.ack import AckError, build_ack
from tests.hl7.support import msh, sample


def message(*segments: str, charset_bytes: str = "utf-8") -> parser.Message:
    return parser.parse(("\r".join(segments) + "\r").encode(charset_bytes))


HEADER = "MSH|^~\\&|RIS|HOSP|BROKER|RAD|20260101||ORM^O01^ORM_O01|CTRL1|P|2.3.1"


@pytest.mark.parametrize("field, args, expected", [
    ("A^B^C", (1,), "A"),
    ("A^B^C", (1, 3), "C"),
    ("A^B^C", (1, 4), ""),
    ("A&a1&a2^B", (1, 1, 3), "a2"),
    ("A~X^Y", (1, 2, 1, 1), "Y"),
    ("A~X^Y", (1, 1, 1, 2), ""),
    ("Fish \\T\\ Chips", (1,), "Fish & Chips"),
    ("a\\F\\b\\S\\c\\R\\d\\E\\e", (1,), "a|b^c~d\\e"),
    ("line1\\.br\\line2", (1,), "line1\nline2"),
    ("\\H\\bold\\N\\", (1,), "bold"),
    ("\\X4D\\\\X6BC3\\", (1,), "Mk\u00c3"),
    ("  padded  ", (1,), "padded"),
])
def test_it_reads_components_repetitions_and_escapes(field, args, expected):
    segment = message(HEADER, f"ZZZ|{field}").first("ZZZ")
    assert segment.get(*args) == expected


def test_it_reads_the_header_from_bytes():
    header = parser.read_header(sample("omi_o23_v251_nw_multi.hl7"))
    assert (header.message_type, header.control_id, header.version, header.charset, header.sending_application) == \
           ("OMI^O23", "SEC-2026-0001", "2.5.1", "UNICODE UTF-8", "SECTRA_RIS")


def test_it_honours_other_encoding_characters():
    msg = message("MSH#$%@*#RIS#HOSP#B#R#2026##ORM$O01#C9#P#2.3.1", "PID#1##ID1$$$ISS#x@F@y")
    pid = msg.first("PID")
    assert (pid.get(3, 4), pid.get(4)) == ("ISS", "x#y")
    assert msg.header.message_type == "ORM^O01"


@pytest.mark.parametrize("raw", [b"", b"hello", b"PID|1||X", b"MSH", b"MSHA^~\\&|X", b"MSH|^|RIS"])
def test_it_refuses_what_has_no_usable_msh(raw):
    with pytest.raises(parser.NotHL7):
        parser.read_header(raw)


@pytest.mark.parametrize("charset, encoded, expected", [
    ("", "Müller".encode(), "Müller"),
    ("UNICODE UTF-8", "Łukasiewicz".encode(), "Łukasiewicz"),
    ("8859/1", "Gärtner".encode("latin-1"), "Gärtner"),
    ("8859/2", "Łukasiewicz".encode("iso8859-2"), "Łukasiewicz"),
    ("ASCII", b"DOE", "DOE"),
])
def test_it_decodes_the_declared_character_set(charset, encoded, expected):
    raw = msh(charset=charset).encode() + b"\rPID|1||1||" + encoded + b"\r"
    assert parser.parse(raw).first("PID").get(5) == expected


@pytest.mark.parametrize("charset, body, unsupported", [
    ("UNICODE UTF-8", b"M\xfcller", False),
    ("ASCII", "Müller".encode(), False),
    ("", b"\xff\xfe", False),
    ("EBCDIC", b"DOE", True),
])
def test_it_refuses_text_it_cannot_decode(charset, body, unsupported):
    raw = msh(charset=charset).encode() + b"\rPID|1||1||" + body + b"\r"
    with pytest.raises(parser.CharsetError) as caught:
        parser.parse(raw)
    assert caught.value.unsupported is unsupported


def test_it_accepts_lf_and_crlf_segment_ends():
    text = sample("orm_o01_v24_nw.hl7").replace(b"\r", b"\r\n")
    assert [s.name for s in parser.parse(text).segments] == ["MSH", "PID", "PV1", "ORC", "OBR", "NTE", "OBX", "OBX"]


@pytest.mark.parametrize("version, code, error, expected_lines", [
    ("2.3.1", "AA", None, ["MSA|AA|CTRL1"]),
    ("2.3.1", "AE", AckError("101", "Accession number (OBR-18) is empty", "OBR", 1, 18),
     ["MSA|AE|CTRL1|Accession number (OBR-18) is empty", "ERR|OBR^1^18^101&Required field missing&HL70357"]),
    ("2.5.1", "AE", AckError("204", "Order 'X' is not known", "ORC", 1, 2),
     ["MSA|AE|CTRL1|Order 'X' is not known", "ERR||ORC^1^2|204^Unknown key identifier^HL70357|E||||Order 'X' is not known"]),
    ("2.5.1", "AR", AckError("203", "HL7 version 9 is not supported", "MSH", 1, 12),
     ["MSA|AR|CTRL1|HL7 version 9 is not supported",
      "ERR||MSH^1^12|203^Unsupported version id^HL70357|E||||HL7 version 9 is not supported"]),
    ("2.5.1", "AE", AckError("102", "a|b^c", "TQ1", 1, 7, 4),
     ["MSA|AE|CTRL1|a\\F\\b\\S\\c", "ERR||TQ1^1^7^1^4|102^Data type error^HL70357|E||||a\\F\\b\\S\\c"]),
])
def test_it_builds_original_mode_acks(version, code, error, expected_lines, settings):
    settings.BROKER_HL7_APPLICATION, settings.BROKER_HL7_FACILITY = "BROKER", "RADIOLOGY"
    header = parser.read_header(HEADER.replace("2.3.1", version).encode())
    ack = build_ack(header, code, error).split("\r")
    msh_fields = ack[0].split("|")
    assert msh_fields[2:6] == ["BROKER", "RADIOLOGY", "RIS", "HOSP"]
    assert msh_fields[8] == "ACK^O01^ACK"
    assert msh_fields[9] and msh_fields[9] != "CTRL1"
    assert msh_fields[11] == version
    assert [line for line in ack[1:] if line] == expected_lines


def test_it_builds_an_ack_for_a_message_without_header():
    ack = build_ack(None, "AR", AckError("100", "the message does not begin with an MSH segment", "MSH"))
    assert ack.split("\r")[1] == "MSA|AR||the message does not begin with an MSH segment"


@pytest.mark.parametrize("version", ["2.3.1", "2.4", "2.5", "2.5.1"])
@pytest.mark.parametrize("code, error", [
    ("AA", None),
    ("AE", AckError("101", "Accession number (OBR-18) is empty", "OBR", 1, 18)),
    ("AR", AckError("102", "byte(s) fc at offset 90 are not valid UNICODE UTF-8", "MSH", 1, 18)),
    ("AE", AckError("102", "'2026-03-15' in ORC-7.4 is not an HL7 date/time", "ORC", 1, 7, 4)),
])
def test_it_builds_acks_that_hl7apy_validates_strictly(version, code, error):
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    header = parser.read_header(HEADER.replace("2.3.1", version).encode())
    ack = parse_message(build_ack(header, code, error), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    ack.validate()  # an independent HL7 implementation accepts the structure and data types
    assert (ack.msa.msa_1.value, ack.msa.msa_2.value) == (code, "CTRL1")
    if error is not None:
        assert error.code in ack.err.to_er7()


@pytest.mark.parametrize("version, err_segments", [("2.3.1", 0), ("2.4", 0), ("2.5", 1), ("2.5.1", 1)])
def test_it_builds_an_aa_with_a_warning_that_hl7apy_validates_strictly(version, err_segments):
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    header = parser.read_header(HEADER.replace("2.3.1", version).encode())
    warning = AckError("0", "Scheduled start 20261025023000 (TQ1-7) read as its first occurrence", "TQ1", 1, 7,
                       severity="W")
    text = build_ack(header, "AA", warnings=(warning,))
    ack = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    ack.validate()
    assert (ack.msa.msa_1.value, ack.msa.msa_3.value) == ("AA", warning.text)
    errs = [line for line in text.split("\r") if line.startswith("ERR")]
    assert len(errs) == err_segments  # v2.3.1/2.4 ERR has no severity: the warning stays in MSA-3
    if err_segments:
        assert errs[0].split("|")[2:5] == ["TQ1^1^7", "0^Message accepted^HL70357", "W"]
