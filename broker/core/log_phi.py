"""The logging backstop that keeps patient names and birth dates out of log lines (BROKER_LOG_PHI=false).

The broker's own log calls name records by their ids (message control ID, accession, AE title, UIDs). This
filter catches what slips through anyway: an HL7 PID segment, a patient field's value quoted in a refusal, or a
DICOM person name inside a message or an exception (a library's debug dump of a C-FIND identifier, a parser error quoting its input), and the values of
the DICOM Patient module (group 0010) in a data set dump. A person name is told by its component separator:
both HL7 (XPN) and DICOM (PN) write FAMILY^GIVEN.
"""
import logging
import re

REDACTED = "[redacted]"

# HL7 segments that carry a person's identity: everything after the segment name goes.
_SEGMENTS = re.compile(r"(?m)(?<![A-Z0-9])(PID|PD1|NK1|MRG|GT1|IN1)\|[^\r\n]*")
# A value quoted in a refusal of a patient field ("'1941-11-07' in PID-7 is not an HL7 date").
_PATIENT_FIELD_VALUE = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?= in (?:PID|PD1|NK1|MRG|GT1|IN1)-)""")
# A DICOM data set dump line of the Patient module: "(0010,0010) Patient's Name  PN: 'DOE^JOHN'".
_PATIENT_ELEMENTS = re.compile(r"(\(0010,\s?[0-9A-Fa-f]{4}\)[^\n:=\[]*?(?:PN|DA|LO|CS|SH|AS|TM|DS|LT|SQ)?[:=\[ ]\s*)[^\n]*")
# FAMILY^GIVEN^MIDDLE: letters (any script), apostrophes, hyphens and spaces joined by carets. Each word of the
# name starts with a capital (or a letter without case), so the lower-case log text before it stays;
# HL7 message types (ORM^O01, ACK^O01^ACK) are not names and stay too.
_MESSAGE_TYPE = re.compile(r"^[A-Z]{3}\^[A-Z0-9]{3}(\^[A-Z_0-9]{3,7})?$")
_CAPITAL = r"[^\W\d_a-z\u00df-\u00ff]"
_LETTERS = r"(?:[^\W\d_]|['-])"
_PERSON_NAME = re.compile(rf"(?<![\w^]){_CAPITAL}{_LETTERS}*(?: {_CAPITAL}{_LETTERS}*)*"
                          rf"(?:\^{_LETTERS}*(?: {_CAPITAL}{_LETTERS}*)*){{1,4}}(?![\w^])")


def redact(text: str) -> str:
    text = _SEGMENTS.sub(lambda m: f"{m.group(1)}|{REDACTED}", text)
    text = _PATIENT_FIELD_VALUE.sub(REDACTED, text)
    text = _PATIENT_ELEMENTS.sub(lambda m: m.group(1) + REDACTED, text)
    return _PERSON_NAME.sub(lambda m: m.group(0) if _MESSAGE_TYPE.match(m.group(0)) else REDACTED, text)


class RedactPersonNames(logging.Filter):
    """Rewrites a record's message (and its traceback text) with patient names and birth dates redacted."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging module's to report, as it would be without us
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
