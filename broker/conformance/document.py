"""A small document model (sections, paragraphs, lists, tables) and its two renderings: Markdown and HTML.

The statement is built once as data and written either way, so both say the same. Text may hold `code` spans
(between backticks); everything else is escaped for the target, so a UID, a wildcard or a backslash-separated
character set reads as written.
"""
import html
import re
from dataclasses import dataclass, field

_CODE = re.compile(r"`([^`]*)`")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#<>])")


@dataclass
class Paragraph:
    text: str


@dataclass
class Items:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]

    def __post_init__(self):
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(f"table row {row!r} has {len(row)} cells for {len(self.headers)} columns")


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)
    sections: list["Section"] = field(default_factory=list)
    number: str = ""  # set by Document

    @property
    def heading(self) -> str:
        return f"{self.number} {self.title}".strip()

    @property
    def anchor(self) -> str:
        """The id GitHub gives the heading; the HTML rendering uses the same."""
        text = re.sub(r"[^\w\- ]", "", self.heading.lower())
        return text.replace(" ", "-")


@dataclass
class Document:
    title: str
    sections: list[Section]
    toc_title: str = "Table of Contents"  # the section that lists the others (PS3.2 Annex A)
    unnumbered: tuple[str, ...] = ("Overview", "Table of Contents")  # before section 1 Introduction

    def __post_init__(self):
        self._number(self.sections, "")

    def _number(self, sections: list[Section], prefix: str) -> None:
        index = 0
        for section in sections:
            if not prefix and section.title in self.unnumbered:
                section.number = ""
            else:
                index += 1
                section.number = f"{prefix}{index}"
            self._number(section.sections, f"{section.number}." if section.number else "")

    def walk(self, sections: list[Section] | None = None, depth: int = 1):
        """(depth, section) for every section, depth first."""
        for section in self.sections if sections is None else sections:
            yield depth, section
            yield from self.walk(section.sections, depth + 1)

    def toc(self, max_depth: int = 4) -> list[tuple[int, Section]]:
        return [(depth, section) for depth, section in self.walk()
                if section.title != self.toc_title and depth <= max_depth]


# --- Markdown ---

def markdown_text(text: str) -> str:
    parts = _CODE.split(text)
    return "".join(f"`{part}`" if index % 2 else _MARKDOWN_SPECIAL.sub(r"\\\1", part)
                   for index, part in enumerate(parts))


def _md_block(block) -> str:
    if isinstance(block, Paragraph):
        return markdown_text(block.text)
    if isinstance(block, Items):
        return "\n".join(f"- {markdown_text(item)}" for item in block.items)
    if isinstance(block, Table):
        lines = ["| " + " | ".join(markdown_text(h) for h in block.headers) + " |",
                 "| " + " | ".join("---" for _ in block.headers) + " |"]
        lines += ["| " + " | ".join(markdown_text(cell) for cell in row) + " |" for row in block.rows]
        return "\n".join(lines)
    raise TypeError(f"not a block: {block!r}")


def render_markdown(document: Document) -> str:
    out = [f"# {markdown_text(document.title)}"]
    for depth, section in document.walk():
        out.append(f"{'#' * min(depth + 1, 6)} {markdown_text(section.heading)}")
        if section.title == document.toc_title:
            out.append("\n".join(f"{'  ' * (d - 1)}- [{markdown_text(s.heading)}](#{s.anchor})"
                                 for d, s in document.toc()))
        out.extend(_md_block(block) for block in section.blocks)
    return "\n\n".join(out) + "\n"


# --- HTML ---

def html_text(text: str) -> str:
    parts = _CODE.split(text)
    return "".join(f"<code>{html.escape(part)}</code>" if index % 2 else html.escape(part)
                   for index, part in enumerate(parts))


def _html_block(block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{html_text(block.text)}</p>"
    if isinstance(block, Items):
        return "<ul>" + "".join(f"<li>{html_text(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{html_text(h)}</th>" for h in block.headers)
        body = "".join("<tr>" + "".join(f"<td>{html_text(cell)}</td>" for cell in row) + "</tr>"
                       for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    raise TypeError(f"not a block: {block!r}")


def render_html_body(document: Document) -> str:
    """The statement as an HTML fragment (one <article>), for a page of its own or inside the dashboard."""
    out = [f'<article class="conformance-statement">\n<h1>{html_text(document.title)}</h1>']
    for depth, section in document.walk():
        level = min(depth + 1, 6)
        out.append(f'<h{level} id="{section.anchor}">{html_text(section.heading)}</h{level}>')
        if section.title == document.toc_title:
            out.append('<ul class="toc">' + "".join(
                f'<li class="toc-{d}"><a href="#{s.anchor}">{html_text(s.heading)}</a></li>'
                for d, s in document.toc()) + "</ul>")
        out.extend(_html_block(block) for block in section.blocks)
    out.append("</article>")
    return "\n".join(out)


_STYLE = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
          "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #999;padding:.2em .5em;"
          "text-align:left;vertical-align:top}.toc-2{margin-left:1.5em}.toc-3{margin-left:3em}")


def render_html(document: Document) -> str:
    """A complete HTML5 document, also well-formed XML (so a strict parser reads it too)."""
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
            f"<title>{html.escape(document.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"{render_html_body(document)}\n</body>\n</html>\n")
