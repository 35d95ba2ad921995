"""The patient ID and accession the HL7 log is searched by, read from any message, refused ones too (table)."""
import pytest

from broker.hl7.content_keys import ContentKeys, content_keys

MSH = "MSH|^~\\&|RIS|HOSP|BROKER|RADIOLOGY|20260312081502||{type}|C1|P|{version}"


@pytest.mark.parametrize("segments, keys", [
    # ORM^O01 v2.3.1: PID-3 and OBR-18
    ([MSH.format(type="ORM^O01", version="2.3.1"), "PID|1||pat0001^^^HOSP^MR~X9^^^OTHER||DOE^JANE",
      "ORC|NW|PL1", "OBR|1|PL1||CT^CT||||||||||||||acc123|RP1"], ContentKeys("PAT0001", "ACC123")),
    # OMI^O23 v2.5.1: IPC-1 wins over OBR-18
    ([MSH.format(type="OMI^O23^OMI_O23", version="2.5.1"), "PID|1||P2^^^HOSP", "ORC|NW|PL2",
      "OBR|1|PL2||CT^CT||||||||||||||OBRACC", "IPC|IPCACC^RIS|RP1|1.2.3|SPS1|CT"], ContentKeys("P2", "IPCACC")),
    # ADT: a patient ID, no accession
    ([MSH.format(type="ADT^A08", version="2.5"), "EVN|A08", "PID|1||P3"], ContentKeys("P3", "")),
    # Not HL7 at all
    (["hello"], ContentKeys()),
    # NUL bytes inside the keys (a message refused for them): dropped, PostgreSQL text cannot hold one
    ([MSH.format(type="ORM^O01", version="2.3.1"), "PID|1||P\x0004^^^HOSP", "ORC|NW|PL1",
      "OBR|1|PL1||CT^CT||||||||||||||A\x00C\x00C|RP1"], ContentKeys("P04", "ACC")),
    # Segments split by LF, short segments
    ([MSH.format(type="ORM^O01", version="2.3.1"), "PID|1", "OBR|1"], ContentKeys("", "")),
])
def test_it_reads_the_keys(segments, keys):
    assert content_keys("\r".join(segments).encode()) == keys


def test_it_reads_a_message_in_a_charset_it_cannot_decode_and_other_separators():
    obr = "#".join(["OBR", "1", "PL1", "", "CT"] + [""] * 13 + ["a-77"])
    raw = ("MSH#^~\\&#RIS#HOSP#BROKER#RADIOLOGY#2026##ORM^O01#C1#P#2.3.1######XYZ-UNKNOWN\n"
           "PID#1##p\xd61^^^HOSP##SCHR\xd6DER^HANNELORE\n" + obr).encode("latin-1")
    assert content_keys(raw) == ContentKeys("P\xd61", "A-77")
