"""Response character sets: each calling AE gets its own; text that does not fit is transliterated.

Nothing is dropped: a character outside the target repertoire becomes its unaccented base letter
("ř" → "r"), the romanisation in its Unicode name (kana "か" → "KA", Cyrillic "Ж" → "ZHE"), or "?".
For a person name whose ideographic or phonetic group cannot be encoded, the alphabetic group
carries the name (romanised from the phonetic group when the alphabetic one is empty).
"""
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pydicom.charset import custom_encoders, python_encoding

from worklist.mwl import iso2022
from worklist.names import LATIN_BASE_LETTERS

DEFAULT_REPERTOIRE = ["ISO_IR 6"]
_SPECIAL = {**LATIN_BASE_LETTERS, "ー": "-", "・": " ", "　": " "}


def parse_character_set(configured: str) -> list[str]:
    """ "ISO 2022 IR 6\\ISO 2022 IR 87" → ["ISO 2022 IR 6", "ISO 2022 IR 87"]; empty → the default repertoire."""
    values = [v.strip() for v in (configured or "").split("\\")]
    if not any(values):
        return list(DEFAULT_REPERTOIRE)
    return values


# Both checks below read pydicom's table and Python's codecs directly. They used to run pydicom's
# converters under warnings.catch_warnings(), which swaps the process-wide warning filters: on the
# listener's threads that turned another association's harmless pydicom warning into an exception.


def is_known(charsets: list[str]) -> bool:
    """Every value a Defined Term (PS3.3 C.12.1.1.2), spelled exactly; several values only as ISO 2022
    code extensions (the first may be empty: the default repertoire)."""
    if any(c and c not in python_encoding for c in charsets):
        return False
    return len(charsets) == 1 or all(c.startswith("ISO 2022") for c in charsets[1:]) and (
        not charsets[0] or charsets[0].startswith("ISO 2022"))


@lru_cache(maxsize=64)
def _encodings(charsets: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(python_encoding[c or "ISO_IR 6"] for c in charsets)


@lru_cache(maxsize=4096)
def _char_fits(ch: str, encodings: tuple[str, ...]) -> bool:
    for encoding in encodings:
        try:
            # pydicom's own encoders for the JIS sets (strict), Python's codecs for the rest.
            custom_encoders[encoding](ch, errors="strict") if encoding in custom_encoders else ch.encode(encoding)
            return True
        except UnicodeError:
            continue
    return False


def fits(text: str, charsets: list[str] | tuple[str, ...]) -> bool:
    """Whether `text` can be sent in `charsets` without a replacement character (each character in one of
    the sets, as pydicom's encoder splits a value between code extensions)."""
    if text.isascii():
        return True
    if all(c in ("", "ISO_IR 6", "ISO 2022 IR 6") for c in charsets):
        return False  # the default repertoire is ASCII (pydicom would read it leniently as Latin-1)
    if iso2022.is_iso2022(charsets):
        # Code extensions: each character in one of the graphic sets the values designate.
        return all(iso2022.encodable(ch, charsets) for ch in text)
    encodings = _encodings(tuple(charsets))
    return all(ch.isascii() or _char_fits(ch, encodings) for ch in text)


def _romanise(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if " LETTER " in name:
        roman = name.rsplit(" ", 1)[-1]
        if roman.isascii() and roman.isalpha():
            return roman.lower() if " SMALL LETTER " in name and "HIRAGANA" not in name and "KATAKANA" not in name else roman
    return ""


def transliterate(text: str, charsets) -> str:
    if fits(text, charsets):
        return text
    compatible = unicodedata.normalize("NFKC", text)  # half-width katakana "ﾔﾏﾀﾞ" → "ヤマダ", "Ｔ" → "T"
    if fits(compatible, charsets):
        return compatible
    out = []
    for ch in text:
        if fits(ch, charsets):
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if base and fits(base, charsets):
            out.append(base)
        elif ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        else:
            out.append(_romanise(ch) or "?")
    return "".join(out)


def fit_person_name(name: str, charsets) -> str:
    if fits(name, charsets):
        return name
    groups = name.split("=")
    alphabetic = groups[0]
    if not alphabetic.strip("^"):
        # Romanise the phonetic group (kana), else the ideographic one.
        source = next((g for g in reversed(groups[1:]) if g.strip("^")), "")
        alphabetic = transliterate(source, DEFAULT_REPERTOIRE).upper()
    alphabetic = transliterate(alphabetic, charsets)
    kept = [alphabetic] + [g if fits(g, charsets) else "" for g in groups[1:]]
    while len(kept) > 1 and not kept[-1]:
        kept.pop()
    return "=".join(kept)


def fit_value(value, vr: str, charsets):
    """The value as it can be sent in `charsets` (only text VRs can need it)."""
    if not isinstance(value, str) or value.isascii():
        return value
    if vr == "PN":
        return fit_person_name(value, charsets)
    return transliterate(value, charsets)


@dataclass(frozen=True)
class ResponseCharset:
    """The character set of one query's answers, and where it came from (for the log)."""

    charsets: list[str]
    source: str  # "AE" (configured for the calling AE), "query" (the request's own) or "default"
    refused: str = ""  # a configured or requested value that is not a Defined Term, passed over


def response_charset(configured: str, requested, default: str) -> ResponseCharset:
    """The calling AE's configured set; else the set the query was sent in (PS3.4 C.2.2.2: the request's
    (0008,0005) tells how the Request and Response Identifiers are encoded); else `default`
    (BROKER_MWL_DEFAULT_CHARSET). A value that is not a Defined Term is passed over."""
    refused = ""
    if configured and configured.strip():
        charsets = parse_character_set(configured)
        if is_known(charsets):
            return ResponseCharset(charsets, "AE")
        refused = configured
    asked = requested_charsets(requested)
    if asked:
        if is_known(asked):
            return ResponseCharset(asked, "query", refused)
        refused = refused or "\\".join(asked)
    return ResponseCharset(parse_character_set(default), "default", refused)


def requested_charsets(value) -> list[str]:
    """The request's (0008,0005) as a list of values ([] when absent or empty)."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else [str(v) for v in value]
    values = [v.strip() for v in values]
    return values if any(values) else []
