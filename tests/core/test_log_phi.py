"""The logging backstop that keeps patient names and birth dates out of log lines (broker.core.log_phi)."""
import logging

import pytest

from broker.core.log_phi import RedactPersonNames, redact


@pytest.mark.parametrize(("line", "logged"), [
    ("AE ORM^O01 C1 from 10.0.0.5:4000: 102 '1941-11-07' in PID-7 is not an HL7 date (YYYYMMDD)",
     "AE ORM^O01 C1 from 10.0.0.5:4000: 102 [redacted] in PID-7 is not an HL7 date (YYYYMMDD)"),
    ("PID|1||P1^^^HOSP||DOE^JANE||19800101|F\rPV1|1|O", "PID|[redacted]\rPV1|1|O"),
    ("(0010,0010) Patient's Name PN: 'DOE^JOHN'", "(0010,0010) [redacted]"),
    ("(0010,0030) Patient's Birth Date DA: '19411107'", "(0010,0030) [redacted]"),
    ("name MÜLLER^JÜRGEN", "name [redacted]"),
    ("name O'BRIEN^MARY-ANN^^DR", "name [redacted]"),
    ("name YAMADA^TARO=山田^太郎", "name [redacted]=[redacted]"),
    # ids, message types, AE titles and UIDs stay as they are
    ("ACK^O01^ACK for ORM^O01 C1 and ADT^A04^ADT_A01", "ACK^O01^ACK for ORM^O01 C1 and ADT^A04^ADT_A01"),
    ("AE CT01 from 10.0.0.1, accession ACC1, SOP Instance 1.2.840.1.5", "AE CT01 from 10.0.0.1, accession ACC1, SOP Instance 1.2.840.1.5"),
])
def test_it_redacts_names_and_birth_dates_but_not_ids(line, logged):
    assert redact(line) == logged


def test_it_redacts_the_formatted_message_and_the_traceback():
    try:
        raise ValueError("bad name DOE^JANE")
    except ValueError as exc:
        record = logging.LogRecord("broker.test", logging.ERROR, __file__, 1, "refused %s for %s", ("DOE^JANE", "C7"),
                                   (type(exc), exc, exc.__traceback__))
    assert RedactPersonNames().filter(record) is True
    assert record.getMessage() == "refused [redacted] for C7"
    assert "DOE^JANE" not in record.exc_text and "ValueError: bad name [redacted]" in record.exc_text
