"""Raw protocol data made readable for people: HL7 segments on lines, DICOM JSON as tag/keyword/value lines."""
import json

from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from pydicom import Dataset

from broker.core.hl7v2.charsets import codec_for


def hl7_text(raw, codec: str = "utf-8") -> str:
    """Bytes (in the message's MSH-18 codec) or text of an HL7 message, one segment per line (CR on the wire)."""
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    if isinstance(raw, bytes):
        raw = raw.decode(codec or "utf-8", errors="replace")
    raw = raw or ""
    return "\n".join(segment for segment in raw.replace("\r\n", "\r").replace("\n", "\r").split("\r") if segment)


def hl7_html(raw, codec: str = "utf-8") -> str:
    """HTML for a <pre>: the segment ID of each line emphasised, everything else escaped."""
    lines = []
    for segment in hl7_text(raw, codec).split("\n"):
        if not segment:
            continue
        name, rest = segment[:3], segment[3:]
        lines.append(f'<span class="seg">{escape(name)}</span>{escape(rest)}')
    return mark_safe("\n".join(lines))


def _value_text(element) -> str:
    value = element.value
    if element.VR == "SQ":
        return f"{len(value)} item(s)"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = str(value) if value is not None else ""
    return text if len(text) <= 200 else text[:200] + "…"


def dicom_lines(dataset, depth: int = 0) -> list[dict]:
    """[{"tag": "(0010,0010)", "keyword": "PatientName", "vr": "PN", "value": "DOE^JOHN", "depth": 0}, ...]."""
    if isinstance(dataset, dict):
        dataset = Dataset.from_json(dataset)
    rows = []
    for element in dataset:
        rows.append({"tag": f"({element.tag.group:04X},{element.tag.element:04X})", "keyword": element.keyword or "?",
                     "vr": element.VR, "value": _value_text(element), "depth": depth})
        if element.VR == "SQ":
            for number, item in enumerate(element.value, 1):
                rows.append({"tag": "", "keyword": f"item {number}", "vr": "", "value": "", "depth": depth + 1})
                rows.extend(dicom_lines(item, depth + 2))
    return rows


def dicom_html(json_dataset) -> str:
    """A DICOM JSON dataset as an aligned text block; falls back to indented JSON if pydicom cannot read it."""
    try:
        rows = dicom_lines(json_dataset or {})
    except Exception:
        return format_html("<pre class=\"raw\">{}</pre>", json.dumps(json_dataset, indent=2, ensure_ascii=False))
    if not rows:
        return mark_safe('<p class="muted">empty</p>')
    lines = [f'{"  " * row["depth"]}{escape(row["tag"]):<11} <span class="kw">{escape(row["keyword"])}</span>'
             f' {escape(row["vr"])}  {escape(row["value"])}' for row in rows]
    return mark_safe('<pre class="raw">' + "\n".join(lines) + "</pre>")


def hl7_codec(message) -> str:
    """The codec the message's raw bytes are in (its MSH-18), as intake decoded them."""
    return codec_for(message.charset) or "utf-8"
