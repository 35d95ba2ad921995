"""The encoded C-FIND identifier checked byte by byte before pydicom reads it.

pydicom is lenient where a query must not be: a value whose length runs past the end is cut
short, a second copy of a tag replaces the first, an unknown Specific Character Set falls back
to the default and bytes that are not UTF-8 under ISO_IR 192 are replaced. Any of those turns a
malformed query into "Success, no matches". Here each is an IdentifierEncodingError naming the
attribute. Linear in the identifier's size; nesting depth bounded.
"""
import struct

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.tag import Tag

from worklist.mwl.charset import is_known, parse_character_set

_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_TEXT_VRS = {"SH", "LO", "ST", "LT", "UT", "PN", "UC"}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_CHARSET_TAG = 0x00080005
MAX_DEPTH = 8


class IdentifierEncodingError(ValueError):
    def __init__(self, keyword: str, comment: str):
        super().__init__(comment)
        self.keyword = keyword
        self.comment = comment


def _name(tag: int) -> str:
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Walker:
    def __init__(self, raw: bytes, implicit: bool, little: bool):
        self.raw = raw
        self.implicit = implicit
        self.end = "<" if little else ">"
        self.utf8 = False

    def _unpack(self, fmt: str, pos: int, what: str):
        size = struct.calcsize(fmt)
        if pos + size > len(self.raw):
            raise IdentifierEncodingError("", f"identifier truncated inside {what}")
        return struct.unpack_from(self.end + fmt, self.raw, pos), pos + size

    def _tag(self, pos: int, what: str):
        (group, element), pos = self._unpack("HH", pos, what)
        return (group << 16) | element, pos

    def dataset(self, pos: int, stop: int | None, depth: int, top: bool) -> int:
        """Walk elements from `pos` to `stop` (None: until an item delimiter); the position after."""
        if depth > MAX_DEPTH:
            raise IdentifierEncodingError("", f"sequences nested deeper than {MAX_DEPTH}")
        seen = set()
        limit = len(self.raw) if stop is None else stop
        while pos < limit:
            tag, after = self._tag(pos, "an element header")
            if tag == _ITEM_END and stop is None:
                _, pos = self._unpack("I", after, "an item delimiter")
                return pos
            name = _name(tag)
            if tag in seen:
                raise IdentifierEncodingError(name, f"{name} appears twice in the identifier")
            seen.add(tag)
            if self.implicit:
                try:
                    vr = dictionary_VR(Tag(tag))
                except KeyError:
                    vr = "UN"
                (length,), pos = self._unpack("I", after, name)
            else:
                (vr_bytes,), pos = self._unpack("2s", after, name)
                vr = vr_bytes.decode("latin-1")
                if vr_bytes in _LONG_LENGTH_VRS:
                    (_, length), pos = self._unpack("HI", pos, name)
                else:
                    (length,), pos = self._unpack("H", pos, name)
            if length == _UNDEFINED:
                pos = self.sequence(pos, None, depth, name)
                continue
            if pos + length > limit:
                raise IdentifierEncodingError(name, f"{name}: value length {length} runs past the end")
            if vr == "SQ":
                self.sequence(pos, pos + length, depth, name)
            elif top and tag == _CHARSET_TAG:
                self.character_set(self.raw[pos:pos + length])
            elif self.utf8 and vr in _TEXT_VRS:
                try:
                    self.raw[pos:pos + length].decode("utf-8")
                except UnicodeDecodeError:
                    raise IdentifierEncodingError(name, f"{name}: not valid UTF-8 (ISO_IR 192)") from None
            pos += length
        if stop is not None and pos != stop:
            raise IdentifierEncodingError("", "an item's elements run past the item's length")
        return pos

    def sequence(self, pos: int, stop: int | None, depth: int, name: str) -> int:
        limit = len(self.raw) if stop is None else stop
        while pos < limit:
            tag, pos = self._tag(pos, f"{name}'s items")
            (length,), pos = self._unpack("I", pos, f"{name}'s items")
            if tag == _SEQUENCE_END and stop is None:
                return pos
            if tag != _ITEM:
                raise IdentifierEncodingError(name, f"{name}: item expected, found another tag")
            if length == _UNDEFINED:
                pos = self.dataset(pos, None, depth + 1, False)
            else:
                if pos + length > limit:
                    raise IdentifierEncodingError(name, f"{name}: item length {length} runs past the end")
                pos = self.dataset(pos, pos + length, depth + 1, False)
        if stop is None:
            raise IdentifierEncodingError(name, f"{name}: sequence without its end")
        return pos

    def character_set(self, value: bytes) -> None:
        # backslashreplace keeps a stray byte readable (b"\xe9" → "\\xe9") where "replace" made U+FFFD.
        text = value.decode("ascii", "backslashreplace").strip(" \x00")
        charsets = parse_character_set(text)
        if not is_known(charsets):
            raise IdentifierEncodingError("SpecificCharacterSet",
                                          f"Specific Character Set '{text[:24]}' not supported")
        self.utf8 = charsets[0] == "ISO_IR 192" or (len(charsets) > 1 and "ISO_IR 192" in charsets)


def check_encoding(raw: bytes, *, implicit: bool, little: bool) -> None:
    """Raise IdentifierEncodingError when `raw` is not a well-formed data set (see the module docstring)."""
    _Walker(raw, implicit, little).dataset(0, len(raw), 0, True)
