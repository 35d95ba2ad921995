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


# German umlauts are also written as two letters ("Schröder" = "Schroeder"); either spelling finds the other.
_UMLAUT_DIGRAPHS = {"Ä": "AE", "Ö": "OE", "Ü": "UE"}
_DIGRAPH_UMLAUTS = {digraph: umlaut for umlaut, digraph in _UMLAUT_DIGRAPHS.items()}
MAX_SPELLINGS = 16  # each is one index range scan; a name with more umlauts or digraphs searches the first few


def _spellings(text: str) -> list[str]:
    """The search keys of `text` with each umlaut as its letter and as its digraph, and each AE/OE/UE as
    written and as the umlaut: "schroeder" → ["SCHROEDER", "SCHRODER"]."""
    upper = text.upper()
    options: list[list[str]] = []
    i = 0
    while i < len(upper):
        ch, pair = upper[i], upper[i:i + 2]
        if ch in _UMLAUT_DIGRAPHS:
            options.append([ch, _UMLAUT_DIGRAPHS[ch]])
        elif pair in _DIGRAPH_UMLAUTS:
            options.append([pair, _DIGRAPH_UMLAUTS[pair]])
            i += 1
        else:
            options.append([ch])
        i += 1
    spellings = [""]
    for choice in options:
        if len(choice) > 1 and len(spellings) * 2 > MAX_SPELLINGS:
            choice = choice[:1]
        spellings = [start + option for start in spellings for option in choice]
    return list(dict.fromkeys(search_key(spelling) for spelling in spellings))


def name_forms(typed: str) -> list[str]:
    """The DICOM names (FAMILY^GIVEN) a person may mean by what they typed into a name search:
    "Schröder, Hannelore" (comma: family first), "Hannelore Schröder" or "Schröder Hannelore" (either order),
    "Schröder^Hannelore" (as DICOM writes it), or a part of the family name. Not yet folded."""
    typed = " ".join((typed or "").split())
    if not typed:
        return []
    if "^" in typed:
        return [typed]
    if "," in typed:
        family, given = (part.strip() for part in typed.split(",", 1))
        return [f"{family}^{given}" if given else family]
    words = typed.split(" ")
    forms = [typed]  # a family name with spaces ("van Gogh") or the start of one
    for cut in range(1, len(words)):
        forms.append(" ".join(words[cut:]) + "^" + " ".join(words[:cut]))  # given name first
        forms.append(" ".join(words[:cut]) + "^" + " ".join(words[cut:]))  # family name first
    return forms


def name_search_prefixes(typed: str) -> list[str]:
    """The search_key prefixes a typed name matches ("schroeder" finds "Schröder^Hannelore"), at most a few dozen:
    each is one range scan on the name key's index."""
    prefixes = []
    for form in name_forms(typed):
        prefixes.extend(_spellings(form))
    return list(dict.fromkeys(prefixes))[:4 * MAX_SPELLINGS]
