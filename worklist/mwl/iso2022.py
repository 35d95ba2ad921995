"""ISO 2022 code extensions (PS3.5 6.1.2.5): text → bytes for a multi-valued Specific Character Set.

Each Defined Term of PS3.3 Table C.12-3/C.12-4 brings one or two graphic sets, each designated to G0 or
G1 by its escape sequence. A value starts in the initial designation given by value 1 (ASCII in G0 when
value 1 is empty) and returns to it before every delimiter (`^` and `=` of a person name, `\\` between
values), before every control character and at its end (PS3.5 6.1.2.5.3), so that each component, each
component group and each value can be read on its own. Every character is written in one of the sets
named; a character none of them holds raises UnicodeEncodeError (callers transliterate first, with
`encodable`). pydicom's own encoder is not used here: it reads `ISO 2022 IR 6` as Latin-1 (bytes 0x80-0xFF
with no designation), leaves G0 on JIS X 0208 when a Latin-1 part follows a kanji part under
`ISO 2022 IR 100`, and writes GB 2312 without its escape sequence.
"""
from dataclasses import dataclass
from functools import lru_cache

ESC = "\x1b"
# Reset points (PS3.5 6.1.2.5.3): the initial designation is active before each of these.
DELIMITERS = frozenset("^=\\")


@dataclass(frozen=True)
class GraphicSet:
    name: str
    element: str  # "G0" or "G1"
    escape: bytes
    codec: str

    def encode(self, ch: str) -> bytes | None:
        """`ch` in this set, without escape sequences, or None when the set does not hold it."""
        return _encode_char(self, ch)


ASCII = GraphicSet("ISO-IR 6", "G0", b"\x1b(B", "ascii")
ROMAJI = GraphicSet("ISO-IR 14", "G0", b"\x1b(J", "romaji")
KATAKANA = GraphicSet("ISO-IR 13", "G1", b"\x1b)I", "katakana")
JIS_X_0208 = GraphicSet("ISO-IR 87", "G0", b"\x1b$B", "iso2022_jp")
JIS_X_0212 = GraphicSet("ISO-IR 159", "G0", b"\x1b$(D", "iso2022_jp_2")
KS_X_1001 = GraphicSet("ISO-IR 149", "G1", b"\x1b$)C", "euc_kr")
GB_2312 = GraphicSet("ISO-IR 58", "G1", b"\x1b$)A", "gb2312")


def _latin(number: int, final: str, codec: str) -> GraphicSet:
    return GraphicSet(f"ISO-IR {number}", "G1", b"\x1b-" + final.encode(), codec)


# Defined Term → its graphic sets (PS3.3 Table C.12-3: each ISO 8859 term also has ISO-IR 6 as G0).
TERM_SETS: dict[str, tuple[GraphicSet, ...]] = {
    "ISO 2022 IR 6": (ASCII,),
    "ISO 2022 IR 100": (_latin(100, "A", "latin_1"), ASCII),
    "ISO 2022 IR 101": (_latin(101, "B", "iso8859_2"), ASCII),
    "ISO 2022 IR 109": (_latin(109, "C", "iso8859_3"), ASCII),
    "ISO 2022 IR 110": (_latin(110, "D", "iso8859_4"), ASCII),
    "ISO 2022 IR 144": (_latin(144, "L", "iso8859_5"), ASCII),
    "ISO 2022 IR 127": (_latin(127, "G", "iso8859_6"), ASCII),
    "ISO 2022 IR 126": (_latin(126, "F", "iso8859_7"), ASCII),
    "ISO 2022 IR 138": (_latin(138, "H", "iso8859_8"), ASCII),
    "ISO 2022 IR 148": (_latin(148, "M", "iso8859_9"), ASCII),
    "ISO 2022 IR 166": (_latin(166, "T", "tis_620"), ASCII),
    "ISO 2022 IR 13": (KATAKANA, ROMAJI),
    "ISO 2022 IR 87": (JIS_X_0208,),
    "ISO 2022 IR 159": (JIS_X_0212,),
    "ISO 2022 IR 149": (KS_X_1001,),
    "ISO 2022 IR 58": (GB_2312,),
}


def is_iso2022(charsets) -> bool:
    """Several values: code extensions (PS3.5 6.1.2.5.1 c); every value a term this module can write."""
    return len(charsets) > 1 and all(not c or c in TERM_SETS for c in charsets)


@lru_cache(maxsize=64)
def initial_designation(charsets: tuple[str, ...]) -> tuple[GraphicSet, GraphicSet | None]:
    """(G0, G1) at the start of every value: value 1's sets; ASCII and no G1 when value 1 is empty."""
    g0, g1 = ASCII, None
    for graphic_set in TERM_SETS.get(charsets[0], ()) if charsets[0] else ():
        if graphic_set.element == "G0" and graphic_set.escape[1:2] == b"(":  # a single-byte G0 set
            g0 = graphic_set
        elif graphic_set.element == "G1" and len(graphic_set.escape) == 3:  # a single-byte G1 set
            g1 = graphic_set
    return g0, g1


@lru_cache(maxsize=64)
def available_sets(charsets: tuple[str, ...]) -> tuple[GraphicSet, ...]:
    """The sets a value may switch to: the initial ones first, then those of each value in order."""
    g0, g1 = initial_designation(charsets)
    found = [g0] + ([g1] if g1 else [])
    for term in charsets:
        for graphic_set in TERM_SETS.get(term, ()):
            if graphic_set not in found:
                found.append(graphic_set)
    return tuple(found)


def _is_control(ch: str) -> bool:
    """A control character other than ESC: written as it is, in the initial designation."""
    return (ord(ch) < 0x20 or ord(ch) == 0x7F) and ch != ESC


@lru_cache(maxsize=8192)
def _encode_char(graphic_set: GraphicSet, ch: str) -> bytes | None:
    code = ord(ch)
    if graphic_set is ASCII:
        return bytes([code]) if 0x20 <= code < 0x7F else None
    if graphic_set is ROMAJI:  # ISO-IR 14: ASCII with YEN SIGN at 05/12 and OVERLINE at 07/14
        if ch == "¥":
            return b"\x5c"
        if ch == "‾":
            return b"\x7e"
        return bytes([code]) if 0x20 <= code < 0x7F and ch not in "\\~" else None
    if graphic_set is KATAKANA:  # half-width katakana U+FF61..U+FF9F are ISO-IR 13 0xA1..0xDF
        return bytes([code - 0xFF61 + 0xA1]) if 0xFF61 <= code <= 0xFF9F else None
    if code < 0x80:
        return None  # the multi-byte and the upper-half sets hold no ASCII
    try:
        data = ch.encode(graphic_set.codec)
    except UnicodeError:
        return None
    if graphic_set.element == "G1" and len(graphic_set.escape) == 3:  # a 96-character upper-half set
        return data if len(data) == 1 and data[0] >= 0xA0 else None
    if graphic_set.element == "G1":  # KS X 1001, GB 2312: two bytes in GR
        return data if len(data) == 2 and data[0] >= 0xA1 and data[1] >= 0xA1 else None
    # JIS X 0208 / 0212 through Python's ISO 2022 codecs: ESC sequence, two bytes, ESC ( B.
    if data.startswith(graphic_set.escape) and len(data) == len(graphic_set.escape) + 2 + 3:
        return data[len(graphic_set.escape):len(graphic_set.escape) + 2]
    return None


def encodable(ch: str, charsets) -> bool:
    """Whether `ch` can be written under `charsets` (a control character or delimiter always can)."""
    if _is_control(ch) or ch in DELIMITERS:
        return True
    return any(s.encode(ch) is not None for s in available_sets(tuple(charsets)))


def encode_value(text: str, charsets) -> bytes:
    """One value (or several joined by `\\`) as bytes under the code extensions of `charsets`."""
    charsets = tuple(charsets)
    initial = initial_designation(charsets)
    sets = available_sets(charsets)
    g0, g1 = initial
    out = bytearray()
    for index, ch in enumerate(text):
        if _is_control(ch) or ch in DELIMITERS:
            out += _back_to(initial, g0, g1)
            g0, g1 = initial
            out.append(ord(ch))
            continue
        for graphic_set in (g0, g1, *sets):
            if graphic_set is None:
                continue
            data = graphic_set.encode(ch)
            if data is None:
                continue
            if graphic_set.element == "G0" and graphic_set is not g0:
                out += graphic_set.escape
                g0 = graphic_set
            elif graphic_set.element == "G1" and graphic_set is not g1:
                out += graphic_set.escape
                g1 = graphic_set
            out += data
            break
        else:
            raise UnicodeEncodeError("iso2022", text, index, index + 1, f"not in {'/'.join(charsets)}")
    out += _back_to(initial, g0, g1)
    return bytes(out)


def _back_to(initial, g0, g1) -> bytes:
    initial_g0, initial_g1 = initial
    escapes = b"" if g0 is initial_g0 else initial_g0.escape
    if initial_g1 is not None and g1 is not initial_g1:
        escapes += initial_g1.escape
    return escapes
