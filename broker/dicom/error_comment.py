"""The Error Comment (0000,0902) of a DIMSE status, made safe to send.

It is an LO in the command set, which is always encoded in the default repertoire (PS3.7 6.3.1,
PS3.5 6.1.2.2): at most 64 characters, no backslash (LO is single-valued here, a backslash would make a
second value) and no control characters. A comment built from what the peer sent (a character set, a
keyword, an exception's text) may hold anything; sending it unchanged made pynetdicom fail to encode the
status, and the modality got an abort instead of the refusal.
"""
LIMIT = 64


def error_comment(text: str, limit: int = LIMIT) -> str:
    """`text` as printable ASCII: a backslash becomes '/', any other character outside 0x20–0x7E becomes
    '?', whitespace runs collapse to one space; cut to `limit` characters."""
    safe = "".join(ch if " " <= ch <= "~" else (" " if ch.isspace() else "?") for ch in text.replace("\\", "/"))
    return " ".join(safe.split())[:limit].rstrip()
