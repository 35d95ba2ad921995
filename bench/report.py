"""Writes one benchmark's section of docs/benchmarks.md, between its own markers."""
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine_line() -> str:
    import os

    return f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def write_section(name: str, markdown: str) -> None:
    """Replace the text between <!-- bench:NAME --> and <!-- /bench:NAME --> (appended if absent)."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    body = f"{start}\n{markdown.strip()}\n\n_Measured on {machine_line()}._\n{end}"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip() + "\n\n" + body + "\n"
    BENCHMARKS_MD.write_text(text)
    print(f"wrote section {name!r} of {BENCHMARKS_MD}")


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}×" if floor else "n/a"
