"""Original-mode ACKs (IHE RAD TF-2 §2.4): MSH + MSA, and ERR for AE/AR (table 0357 code and location)."""
import itertools
import os
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings

from broker.core.hl7v2 import charsets
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


_counter = itertools.count(1)
_prefix = f"{os.getpid() % 100000:05d}"


def new_control_id() -> str:
    """Unique per process run: pid, a millisecond clock and a counter (MSH-10 is ST, up to 20 in v2.3.1)."""
    return f"{_prefix}{int(time.time() * 1000) % 10**9:09d}{next(_counter) % 1000000:06d}"


@lru_cache(maxsize=4)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


_stamp = (0, "", "")  # (second, zone name, MSH-7 text), replaced as a whole: safe across threads


def _timestamp(zone: str) -> str:
    """MSH-7 to the second; formatted once per second, not once per ACK (strftime with %z is slow)."""
    global _stamp
    second = int(time.time())
    cached = _stamp
    if cached[0] != second or cached[1] != zone:
        cached = _stamp = (second, zone, datetime.fromtimestamp(second, _zone(zone)).strftime("%Y%m%d%H%M%S%z"))
    return cached[2]


def _modern(version: str) -> bool:
    return version[:3] not in ("2.1", "2.2", "2.3", "2.4") or version == ""


def build_ack(header: Header | None, code: str, error: AckError | None = None) -> str:
    """The ACK text (segments joined by CR, no framing). `header` is None when the message had no usable MSH."""
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
    now = _timestamp(settings.BROKER_TIME_ZONE)
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
    if error is None:
        segments.append(sep.join(msa))
        return "\r".join(segments) + "\r"
    text = escape(error.text, enc, sep)
    msa.append(text[:80])  # MSA-3 text message: deprecated in v2.5 but still what many RIS screens show
    segments.append(sep.join(msa))
    label = escape(ERROR_TEXT.get(error.code, ""), enc, sep)
    where = [error.segment, str(error.sequence) if error.segment else "", str(error.field or "") if error.segment else ""]
    if _modern(version):
        location = comp.join(where + ([str(1), str(error.component)] if error.component else [])).rstrip(comp)
        err = ["ERR", "", location, comp.join([error.code, label, "HL70357"]), "E", "", "", "", text]
    else:  # v2.3.1/v2.4: ERR-1 segment^sequence^field^code&text&HL70357
        err = ["ERR", comp.join(where + [sub.join([error.code, label, "HL70357"])])]
    segments.append(sep.join(err))
    return "\r".join(segments) + "\r"


def encode_ack(text: str, codec: str) -> bytes:
    return text.encode(codec, errors="replace")
