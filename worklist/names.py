"""Person-name normalisation shared by storage and matching: one search key per PN value."""
import unicodedata


def search_key(person_name: str) -> str:
    """Upper-case, accent-free form of a DICOM PN used for case- and accent-insensitive matching.

    "Müller^Jürgen" -> "MULLER^JURGEN"; component and group delimiters (^ =) are kept.
    """
    decomposed = unicodedata.normalize("NFKD", person_name or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.replace("ß", "SS").upper()
