"""MSH-18 (HL7 table 0211) → Python codec and DICOM Specific Character Set."""
from django.conf import settings

# MSH-18 value → (Python codec, DICOM (0008,0005) term)
CHARSETS = {
    "ASCII": ("ascii", ""),
    "8859/1": ("latin-1", "ISO_IR 100"),
    "8859/2": ("iso8859-2", "ISO_IR 101"),
    "8859/3": ("iso8859-3", "ISO_IR 109"),
    "8859/4": ("iso8859-4", "ISO_IR 110"),
    "8859/5": ("iso8859-5", "ISO_IR 144"),
    "8859/6": ("iso8859-6", "ISO_IR 127"),
    "8859/7": ("iso8859-7", "ISO_IR 126"),
    "8859/8": ("iso8859-8", "ISO_IR 138"),
    "8859/9": ("iso8859-9", "ISO_IR 148"),
    "8859/15": ("iso8859-15", "ISO_IR 203"),
    "UNICODE UTF-8": ("utf-8", "ISO_IR 192"),
    "ISO IR87": ("iso2022_jp", "ISO 2022 IR 87"),
    "KS X 1001": ("euc_kr", "ISO 2022 IR 149"),
    "GB 18030-2000": ("gb18030", "GB18030"),
}

DEFAULT_LABEL = "UNICODE UTF-8"


def codec_for(msh18: str) -> str | None:
    """Codec for an MSH-18 value; an empty MSH-18 uses BROKER_HL7_DEFAULT_CHARSET. None: not supported."""
    label = (msh18 or getattr(settings, "BROKER_HL7_DEFAULT_CHARSET", DEFAULT_LABEL)).strip().upper()
    entry = CHARSETS.get(label)
    return entry[0] if entry else None


def ack_codec(msh18: str) -> str:
    return codec_for(msh18) or "ascii"
