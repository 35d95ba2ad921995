"""Original-mode ACKs (IHE RAD TF-2 §2.4): MSH + MSA, and ERR for AE/AR (table 0357 code and location)."""
import itertools
import os
import time
from dataclasses import dataclass
from datetime import datetime, tzinfo

from django.conf import settings
from django.utils import timezone

from broker.core.hl7v2 import charsets
from broker.core.hl7v2.dtm import format_dtm
from broker.hl7.parser import Header, escape

# HL7 table 0357, message error condition codes.
ERROR_TEXT = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "104": "Value too long",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}


@dataclass(frozen=True)
class AckError:
    code: str  # table 0357
    text: str  # diagnostic for people (MSA-3, ERR-7)
    segment: str = ""
    sequence: int = 1
    field: int = 0
    component: int = 0
    severity: str = "E"  # ERR-4, HL7 table 0516: E error, W warning (an AA that says what it assumed)


_counter = itertools.count(1)
_prefix = f"{os.getpid() % 100000:05d}"


def new_control_id() -> str:
    """Unique per process run: pid, a millisecond clock and a counter (MSH-10 is ST, up to 20 in v2.3.1)."""
    return f"{_prefix}{int(time.time() * 1000) % 10**9:09d}{next(_counter) % 1000000:06d}"


_stamp = (0, None, "")  # (second, zone, MSH-7 text), replaced as a whole: safe across threads


def _timestamp(zone: tzinfo) -> str:
    """MSH-7 to the second, in the department's zone with its offset; formatted once per second, not per ACK."""
    global _stamp
    second = int(time.time())
    cached = _stamp
    if cached[0] != second or cached[1] is not zone:
        cached = _stamp = (second, zone, format_dtm(datetime.fromtimestamp(second, zone), zone))
    return cached[2]


def _modern(version: str) -> bool:
    return version[:3] not in ("2.1", "2.2", "2.3", "2.4") or version == ""


def build_ack(header: Header | None, code: str, error: AckError | None = None,
              warnings: tuple[AckError, ...] = ()) -> str:
    """The ACK text (segments joined by CR, no framing). `header` is None when the message had no usable MSH.
    `warnings` (severity W) go with an AA: an ERR each from v2.5 on (ERR-4 exists there), MSA-3 before."""
    sep, enc = (header.field_sep, header.encoding_chars) if header else ("|", "^~\\&")
    comp, rep, esc, sub = (enc + "^~\\&"[len(enc):])[:4]
    version = (header.version if header else "") or "2.5.1"
    trigger = header.trigger_event if header else ""
    if trigger and version not in ("2.1", "2.2", "2.3"):  # MSH-9.3 message structure exists from v2.3.1 on
        msg_type = f"ACK{comp}{trigger}{comp}ACK"
    elif trigger:
        msg_type = f"ACK{comp}{trigger}"
    else:
        msg_type = "ACK"
    now = _timestamp(timezone.get_default_timezone())
    msh = [
        "MSH", enc, escape(settings.BROKER_HL7_APPLICATION, enc, sep), escape(settings.BROKER_HL7_FACILITY, enc, sep),
        header.sending_application if header else "", header.sending_facility if header else "",
        now, "", msg_type, new_control_id(), (header.processing_id if header else "") or "P", version,
    ]
    if header and header.charset and charsets.codec_for(header.charset):  # echo only a charset we write in
        msh += ["", "", "", "", "", header.charset]
    control_id = header.control_id if header else ""  # MSA-2: MSH-10 exactly as sent (still escaped)
    msa = ["MSA", code, control_id]
    segments = [sep.join(msh)]
    problems = ([error] if error is not None else []) + list(warnings)
    if not problems:
        segments.append(sep.join(msa))
        return "\r".join(segments) + "\r"
    msa.append(escape(problems[0].text, enc, sep)[:80])  # MSA-3: deprecated in v2.5, still what RIS screens show
    segments.append(sep.join(msa))
    for problem in problems:
        if problem.severity == "E" or _modern(version):
            segments.append(_err(problem, version, sep, enc, comp, sub))
    return "\r".join(segments) + "\r"


def _err(problem: AckError, version: str, sep: str, enc: str, comp: str, sub: str) -> str:
    text = escape(problem.text, enc, sep)
    label = escape(ERROR_TEXT.get(problem.code, ""), enc, sep)
    where = [problem.segment, str(problem.sequence) if problem.segment else "",
             str(problem.field or "") if problem.segment else ""]
    if _modern(version):
        location = comp.join(where + ([str(1), str(problem.component)] if problem.component else [])).rstrip(comp)
        err = ["ERR", "", location, comp.join([problem.code, label, "HL70357"]), problem.severity, "", "", "", text]
    else:  # v2.3.1/v2.4: ERR-1 segment^sequence^field^code&text&HL70357
        err = ["ERR", comp.join(where + [sub.join([problem.code, label, "HL70357"])])]
    return sep.join(err)


def encode_ack(text: str, codec: str) -> bytes:
    return text.encode(codec, errors="replace")
