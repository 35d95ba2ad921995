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


PN_GROUPS = ("alphabetic", "ideographic", "phonetic")  # the component groups of PS3.5 6.2.1.2


def person_name_group(stored_key: str | None, index: int) -> str | None:
    """Component group `index` of a stored PN search key, trailing component delimiters removed
    ("DOE^JOHN^^=ドウ" → "DOE^JOHN" for 0, "ドウ" for 1, "" for 2). PostgreSQL computes the same with
    rtrim(split_part(key, '=', index + 1), '^')."""
    if stored_key is None:
        return None
    groups = stored_key.split("=")
    return groups[index].rstrip("^") if index < len(groups) else ""


def person_name_query(query_key: str) -> list[tuple[int, list[str]]]:
    """What a PN query key asks of each component group (PS3.5 6.2, PS3.4 C.2.2.2.1/C.2.2.2.4).

    [(group index, alternatives)]: the group matches when it equals (or, with wildcards, matches) one of
    the alternatives. Trailing component delimiters do not count ("DOE^JOHN^^" asks "DOE^JOHN"), nor do
    trailing empty groups ("DOE^JOHN=="). An empty group, or one of only "*", leaves that group free, so
    "=山田^太郎" asks the ideographic group only. "DOE^*" also matches a stored "DOE" with no given name.
    """
    groups = query_key.split("=")
    if len(groups) > len(PN_GROUPS):  # a fourth group cannot match anything stored: keep it in the third
        groups = groups[:2] + ["=".join(groups[2:])]
    asked = []
    for index, group in enumerate(groups):
        group = group.rstrip("^")
        if not group.strip("*"):
            continue
        base = group
        while base.endswith("^*"):
            base = base[:-2].rstrip("^")
        asked.append((index, [group] if base == group or not base else [base, base + "^*"]))
    return asked


def person_name_match(query_key: str, stored_key: str | None) -> bool:
    """`person_name_query` evaluated in Python (the table tests hold the SQL to this)."""
    if stored_key is None:
        return False
    for index, alternatives in person_name_query(query_key):
        group = person_name_group(stored_key, index)
        if not any(glob_match(p, group) if "*" in p or "?" in p else p == group for p in alternatives):
            return False
    return True
