"""Person-name normalisation shared by storage, matching and transliteration."""
import unicodedata

# Latin letters that Unicode decomposition (NFKD) does not split into base letter + accent.
LATIN_BASE_LETTERS = {"ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe", "Ł": "L",
                      "ł": "l", "Đ": "D", "đ": "d", "Þ": "TH", "þ": "th", "ı": "i"}
_BASE_LETTER_TABLE = str.maketrans(LATIN_BASE_LETTERS)
# Kana voicing marks are not accents: だ (da) and た (ta) are different names.
_KANA_SOUND_MARKS = {"\u3099", "\u309a"}


def search_key(person_name: str) -> str:
    """Upper-case, accent-free form of a DICOM PN used for case- and accent-insensitive matching.

    "Müller^Jürgen" -> "MULLER^JURGEN", "Łukasz" -> "LUKASZ"; component and group delimiters (^ =) are kept.
    """
    decomposed = unicodedata.normalize("NFKD", (person_name or "").translate(_BASE_LETTER_TABLE))
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) or ch in _KANA_SOUND_MARKS)
    return unicodedata.normalize("NFC", kept).upper()
