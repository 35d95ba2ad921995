"""Response character sets: each calling AE gets its own; text that does not fit is transliterated.

Nothing is dropped: a character outside the target repertoire becomes its unaccented base letter
("ř" → "r"), the romanisation in its Unicode name (kana "か" → "KA", Cyrillic "Ж" → "ZHE"), or "?".
For a person name whose ideographic or phonetic group cannot be encoded, the alphabetic group
carries the name (romanised from the phonetic group when the alphabetic one is empty).
"""
import unicodedata
import warnings
from functools import lru_cache

from pydicom.charset import convert_encodings, encode_string

from worklist.names import LATIN_BASE_LETTERS

DEFAULT_REPERTOIRE = ["ISO_IR 6"]
_SPECIAL = {**LATIN_BASE_LETTERS, "ー": "-", "・": " ", "　": " "}


def parse_character_set(configured: str) -> list[str]:
    """ "ISO 2022 IR 6\\ISO 2022 IR 87" → ["ISO 2022 IR 6", "ISO 2022 IR 87"]; empty → the default repertoire."""
    values = [v.strip() for v in (configured or "").split("\\")]
    if not any(values):
        return list(DEFAULT_REPERTOIRE)
    return values


def is_known(charsets: list[str]) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            convert_encodings(charsets)
            return True
        except Exception:
            return False


@lru_cache(maxsize=64)
def _encodings(charsets: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(convert_encodings(list(charsets)))


def fits(text: str, charsets: list[str] | tuple[str, ...]) -> bool:
    if text.isascii():
        return True
    if all(c in ("", "ISO_IR 6", "ISO 2022 IR 6") for c in charsets):
        return False  # the default repertoire is ASCII (pydicom would read it leniently as Latin-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            encode_string(text, list(_encodings(tuple(charsets))))
            return True
        except Exception:
            return False


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
