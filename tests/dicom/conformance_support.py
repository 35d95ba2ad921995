"""Reading the generated Conformance Statement back, as a reader of the Markdown would."""
import re

from broker.conformance.document import render_markdown
from broker.conformance.statement import build

_ROW = re.compile(r"^\| (.*) \|$")
_UID = re.compile(r"^`([0-9.]+)`$")


def markdown() -> str:
    return render_markdown(build())


def table_after(text: str, marker: str) -> list[list[str]]:
    """The cells of the first table after the line `marker`, or of the table whose header `marker` is (header and
    separator left out)."""
    lines = text.splitlines()
    start = lines.index(marker)
    rows, seen_table = [], False
    for line in lines[start if marker.startswith("| ") else start + 1:]:
        match = _ROW.match(line)
        if match:
            seen_table = True
            rows.append([cell.strip() for cell in re.split(r"(?<!\\) \| ", match.group(1))])
        elif seen_table:
            break
    return rows[2:]


def section(text: str, heading_end: str) -> str:
    """The text of the section whose heading ends with `heading_end`, up to the next heading."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and line.endswith(heading_end))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    return "\n".join(lines[start:end])


def uid(cell: str) -> str | None:
    match = _UID.match(cell)
    return match.group(1) if match else None


def transfer_syntax_lists(text: str) -> dict[str, list[str]]:
    names = re.findall(r"^Transfer syntax list (TS-\d+):$", text, re.MULTILINE)
    return {name: [uid(row[1]) for row in table_after(text, f"Transfer syntax list {name}:")] for name in names}


def listed_scp_contexts(text: str) -> set[tuple[str, str]]:
    """(SOP Class UID, Transfer Syntax UID) for every SCP row that names a UID."""
    syntaxes = transfer_syntax_lists(text)
    pairs = set()
    for row in table_after(text, "As SCP (association acceptor):"):
        sop_class = uid(row[1])
        if sop_class is not None:
            pairs.update((sop_class, ts) for ts in syntaxes[row[3]])
    return pairs


def unknown_storage_row(text: str) -> list[str] | None:
    return next((row for row in table_after(text, "As SCP (association acceptor):")
                 if row[0].startswith("Any other storage SOP class")), None)
