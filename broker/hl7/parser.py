"""A lean HL7 v2 parser for the intake hot path: header from bytes, then segments split on the
message's own encoding characters, with unescaping on access.

hl7apy's full parse validates every field against the version's structures and costs ~10 ms per
order; the intake needs a few dozen fields per message, so it splits strings and reads fields lazily.
"""
import re
from dataclasses import dataclass

from broker.core.hl7v2 import charsets


class NotHL7(Exception):
    """The bytes do not start with a usable MSH segment."""


class CharsetError(Exception):
    """MSH-18 names an unsupported character set, or the bytes are invalid in the declared one."""

    def __init__(self, message: str, *, unsupported: bool):
        super().__init__(message)
        self.unsupported = unsupported


@dataclass(frozen=True)
class Header:
    """MSH fields read from the raw bytes, before the body is decoded (MSH is ASCII in every charset we take)."""

    field_sep: str
    encoding_chars: str
    sending_application: str  # raw (escaped) MSH-3, echoed as MSH-5 of the ACK
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    message_type: str  # "ORM^O01" (MSH-9.1^MSH-9.2)
    message_code: str
    trigger_event: str
    control_id: str
    processing_id: str
    version: str
    charset: str  # MSH-18 as sent (first repetition)


def read_header(raw: bytes) -> Header:
    """Read MSH from the first line of raw bytes; raises NotHL7 when there is no MSH to read."""
    start = raw.lstrip(b"\r\n\t ")
    if not start.startswith(b"MSH") or len(start) < 8:
        raise NotHL7("the message does not begin with an MSH segment")
    end = len(start)
    for terminator in (b"\r", b"\n"):
        pos = start.find(terminator)
        if 0 <= pos < end:
            end = pos
    line = start[:end]
    sep = line[3:4]
    if sep.isalnum() or sep in (b" ", b""):
        raise NotHL7(f"MSH-1 field separator {sep!r} is not a separator character")
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        text = _decode_header_line(line, sep.decode("latin-1"))
    fields = text.split(sep.decode("latin-1"))
    encoding_chars = fields[1] if len(fields) > 1 else ""
    if len(encoding_chars) < 3 or len(set(encoding_chars)) != len(encoding_chars) or sep.decode("latin-1") in encoding_chars:
        raise NotHL7(f"MSH-2 encoding characters {encoding_chars!r} are not four distinct separators")

    def field(n: int) -> str:  # MSH-n lives at index n-1 because MSH-1 is the separator itself
        return fields[n - 1] if len(fields) > n - 1 else ""

    comp, rep = encoding_chars[0], encoding_chars[1]
    msg_type = field(9).split(rep)[0].split(comp)
    code = msg_type[0].strip() if msg_type else ""
    trigger = msg_type[1].strip() if len(msg_type) > 1 else ""
    return Header(
        field_sep=sep.decode("latin-1"),
        encoding_chars=encoding_chars,
        sending_application=field(3),
        sending_facility=field(4),
        receiving_application=field(5),
        receiving_facility=field(6),
        message_type=f"{code}^{trigger}" if trigger else code,
        message_code=code,
        trigger_event=trigger,
        control_id=field(10).strip(),
        processing_id=field(11).split(comp)[0].strip(),
        version=field(12).split(comp)[0].strip(),
        charset=field(18).split(rep)[0].strip(),
    )


def _decode_header_line(line: bytes, sep: str) -> str:
    """A header that is not ASCII (MSH-10 `ÜBER-1`) in the charset its own MSH-18 names, so that it is echoed
    as sent; latin-1 (every byte a character) when that charset is unknown or the bytes are invalid in it."""
    text = line.decode("latin-1")
    fields = text.split(sep)
    rep = fields[1][1:2] if len(fields) > 1 else ""
    msh18 = fields[17].split(rep)[0].strip() if len(fields) > 17 and rep else fields[17].strip() if len(fields) > 17 else ""
    codec = charsets.codec_for(msh18)
    if codec and codec != "latin-1":
        try:
            return line.decode(codec)
        except UnicodeDecodeError:
            pass
    return text


def decode(raw: bytes, header: Header) -> str:
    codec = charsets.codec_for(header.charset)
    if codec is None:
        raise CharsetError(f"MSH-18 character set {header.charset!r} is not supported", unsupported=True)
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start:exc.end].hex(" ")
        declared = header.charset or f"{charsets.DEFAULT_LABEL} (MSH-18 empty)"
        raise CharsetError(f"byte(s) {bad} at offset {exc.start} are not valid {declared}", unsupported=False) from exc


_SEGMENT_BREAK = re.compile(r"\r\n|\n\r|\r|\n")


def locate_nul(text: str, header: Header) -> tuple[str, int, int, int] | None:
    """(segment, sequence, field, component) of the first NUL character in a decoded message, None without one.

    No HL7 data type admits NUL (and PostgreSQL text cannot store it): the value is refused where it is."""
    at = text.find("\x00")
    if at < 0:
        return None
    line_start = max(text.rfind("\r", 0, at), text.rfind("\n", 0, at)) + 1
    line_end = min((p for p in (text.find("\r", at), text.find("\n", at)) if p >= 0), default=len(text))
    line = text[line_start:line_end]
    name = line.split(header.field_sep, 1)[0].strip().replace("\x00", "")[:3] or "MSH"
    earlier = [seg.split(header.field_sep, 1)[0].strip() for seg in _SEGMENT_BREAK.split(text[:line_start])]
    prefix = line[: at - line_start]
    field = prefix.count(header.field_sep) + (1 if name == "MSH" else 0)
    value = prefix.rsplit(header.field_sep, 1)[-1].rsplit(header.encoding_chars[1], 1)[-1]  # its repetition
    component = value.count(header.encoding_chars[0]) + 1 if field else 0
    return name, earlier.count(name) + 1, field, component


class Message:
    """The segments of one decoded message; fields are unescaped when read."""

    __slots__ = ("header", "segments", "_by_name", "comp", "rep", "esc", "sub", "field_sep", "_unescape_re")

    def __init__(self, text: str, header: Header):
        self.header = header
        self.field_sep = header.field_sep
        enc = header.encoding_chars
        self.comp, self.rep = enc[0], enc[1]
        self.esc = enc[2] if len(enc) > 2 else "\\"
        self.sub = enc[3] if len(enc) > 3 else "&"
        self._unescape_re = None
        self.segments: list[Segment] = []
        self._by_name: dict[str, list[Segment]] = {}
        for line in _SEGMENT_BREAK.split(text.strip("\r\n")):
            if not line.strip():
                continue
            fields = line.split(self.field_sep)
            name = fields[0].strip()
            if name == "MSH":
                fields.insert(1, self.field_sep)  # so that fields[n] is MSH-n
            seq = len(self._by_name.get(name, ())) + 1
            segment = Segment(self, name, fields, seq)
            self.segments.append(segment)
            self._by_name.setdefault(name, []).append(segment)

    def all(self, name: str) -> list["Segment"]:
        return self._by_name.get(name, [])

    def first(self, name: str) -> "Segment | None":
        found = self._by_name.get(name)
        return found[0] if found else None

    def unescape(self, value: str) -> str:
        esc = self.esc
        if esc not in value:
            return value
        if self._unescape_re is None:
            e = re.escape(esc)
            self._unescape_re = re.compile(e + r"([^" + e + r"]*)" + e)
        return self._unescape_re.sub(self._replace_escape, value)

    def _replace_escape(self, match: re.Match) -> str:
        code = match.group(1)
        simple = {"F": self.field_sep, "S": self.comp, "T": self.sub, "R": self.rep, "E": self.esc}
        if code in simple:
            return simple[code]
        if code.startswith("X") and len(code) % 2 == 1:
            try:
                return bytes.fromhex(code[1:]).decode("latin-1")
            except ValueError:
                return ""
        if code == ".br":
            return "\n"
        return ""  # highlighting (\H\ \N\) and formatting commands carry no value


class Segment:
    __slots__ = ("message", "name", "fields", "sequence", "_reps")

    def __init__(self, message: Message, name: str, fields: list[str], sequence: int):
        self.message, self.name, self.fields, self.sequence = message, name, fields, sequence
        self._reps = None  # field -> its repetitions, split once: reading each of N repetitions stays linear

    def raw(self, field: int) -> str:
        return self.fields[field] if field < len(self.fields) else ""

    def repetitions(self, field: int) -> list[str]:
        """Raw (still escaped) repetitions of a field; [] when the field is empty."""
        value = self.raw(field)
        if not value:
            return []
        if self.name == "MSH" and field in (1, 2):
            return [value]
        return self._split(field, value)

    def _split(self, field: int, value: str) -> list[str]:
        if self._reps is None:
            self._reps = {}
        reps = self._reps.get(field)
        if reps is None:
            reps = self._reps[field] = value.split(self.message.rep)
        return reps

    def get(self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 0) -> str:
        """The unescaped value of FIELD.COMPONENT.SUBCOMPONENT in one repetition ('' when absent)."""
        value = self.raw(field)
        if not value:
            return ""
        if self.name == "MSH" and field in (1, 2):
            return value
        reps = self._split(field, value)  # cached: `rep in value` per call would rescan a long field each time
        if repetition >= len(reps):
            return ""
        return self._pick(reps[repetition], component, subcomponent)

    def components(self, field: int, repetition: int = 0) -> list[str]:
        """All components of one repetition, unescaped, first subcomponent of each."""
        reps = self.repetitions(field)
        if repetition >= len(reps):
            return []
        msg = self.message
        return [msg.unescape(c.split(msg.sub)[0]) for c in reps[repetition].split(msg.comp)]

    def _pick(self, value: str, component: int, subcomponent: int) -> str:
        msg = self.message
        if msg.comp in value:
            comps = value.split(msg.comp)
            if component > len(comps):
                return ""
            value = comps[component - 1]
        elif component > 1:
            return ""
        if msg.sub in value:
            subs = value.split(msg.sub)
            if subcomponent > len(subs):
                return ""
            value = subs[subcomponent - 1]
        elif subcomponent > 1:
            return ""
        return msg.unescape(value).strip()


def parse(raw: bytes) -> Message:
    """Header, decode, split: raises NotHL7 or CharsetError."""
    header = read_header(raw)
    return Message(decode(raw, header), header)


def escape(value: str, encoding_chars: str = "^~\\&", field_sep: str = "|") -> str:
    """Escape text for an HL7 field (used for ACK texts)."""
    comp, rep, esc, sub = (encoding_chars + "^~\\&"[len(encoding_chars):])[:4]
    out = value.replace(esc, f"{esc}E{esc}")
    for char, code in ((field_sep, "F"), (comp, "S"), (sub, "T"), (rep, "R")):
        out = out.replace(char, f"{esc}{code}{esc}")
    return out.replace("\r", " ").replace("\n", " ")
