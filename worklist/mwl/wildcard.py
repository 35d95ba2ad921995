"""Wildcard matching (PS3.4 C.2.2.2.4) that is linear in the value: no backtracking regular expressions.

A DICOM wildcard has `*` (any run of characters, also none) and `?` (exactly one character); every
other character is literal. Here it becomes what each database matches natively in C without
exponential backtracking (SQLite GLOB, PostgreSQL LIKE: both give up on a `*` as soon as the rest
of the pattern ran out of text), and, where SQL cannot express the rule (a '\\'-joined pool of
station names, the person-name component rules), a two-pointer matcher in Python that is
O(len(pattern) * len(value)) at worst.
"""

GLOB_SPECIALS = "*?["  # "]" is literal outside a bracket expression
LIKE_ESCAPE = "\\"


def glob_match(pattern: str, value: str) -> bool:
    """True when `value` matches the DICOM wildcard `pattern`; linear-time two-pointer matcher.

    On a mismatch after a `*`, the match restarts one character after where the last `*` began
    matching; earlier `*`s are never revisited (a later `*` can absorb anything they could).
    """
    p = v = 0
    star = -1  # position in pattern after the last '*'
    resume = 0  # position in value where that '*' would take one more character
    while v < len(value):
        if p < len(pattern) and (pattern[p] == "?" or (pattern[p] != "*" and pattern[p] == value[v])):
            p += 1
            v += 1
        elif p < len(pattern) and pattern[p] == "*":
            star = p + 1
            resume = v
            p += 1
        elif star >= 0:
            resume += 1
            v = resume
            p = star
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def sqlite_glob(pattern: str) -> str:
    """The DICOM wildcard as a SQLite GLOB pattern: `*`/`?` kept, a literal `[` written `[[]`."""
    return "".join("[[]" if ch == "[" else ch for ch in pattern)


def sqlite_glob_literal(text: str) -> str:
    """`text` as a GLOB pattern that matches only itself."""
    return "".join(f"[{ch}]" if ch in GLOB_SPECIALS else ch for ch in text)


def like_pattern(pattern: str) -> str:
    """The DICOM wildcard as a LIKE pattern with ESCAPE '\\': `%`, `_` and `\\` escaped, `*`→`%`, `?`→`_`."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in "%_\\":
            out.append(LIKE_ESCAPE + ch)
        else:
            out.append(ch)
    return "".join(out)


def pool_match(pattern: str, stored: str | None) -> bool:
    """A '\\'-joined VM>1 value matches when any one of its values matches (C.2.2.3)."""
    if stored is None:
        return False
    return any(glob_match(pattern, one) for one in stored.split("\\"))


def person_name_groups(query_key: str) -> list[str]:
    """A PN query's search key as the component groups it constrains, trailing empty ones dropped,
    each group without its trailing empty components ("DOE^JOHN^^=" → ["DOE^JOHN"])."""
    groups = query_key.split("=")
    while len(groups) > 1 and groups[-1].strip("^") == "":
        groups.pop()
    return [group.rstrip("^") for group in groups]


def person_name_match(query_key: str, stored_key: str | None) -> bool:
    """PN matching without wildcards, per component group (trailing empty components ignored).

    "DOE^JOHN" matches "DOE^JOHN", "DOE^JOHN^^^" and "DOE^JOHN=ドウ^ジョン"; groups the query
    leaves out are not constrained.
    """
    if stored_key is None:
        return False
    wanted = person_name_groups(query_key)
    stored = stored_key.split("=")
    if len(stored) < len(wanted):
        return False
    return all(stored[i].rstrip("^") == group for i, group in enumerate(wanted))


def person_name_regex(query_key: str) -> str:
    """The same rule as a PostgreSQL regex (`~`): literals and `\\^*` only, nothing to backtrack over."""
    parts = ["".join("\\" + ch if not ch.isalnum() else ch for ch in group) + r"\^*"
             for group in person_name_groups(query_key)]
    return "^" + "=".join(parts) + "(=.*)?$"
