"""Generated documentation: each tool owns a delimited section of a Markdown page and rewrites only it."""

from __future__ import annotations

import re
from pathlib import Path

from attnflow.io import atomic_write_text


def update_section(
    name: str, markdown: str, doc: str | Path, header: str = "", before: str | None = None
) -> Path:
    """Replace (or add) the section delimited by ``<!-- BEGIN name -->`` / ``<!-- END name -->``.

    Other sections of ``doc`` are kept byte for byte, so several generators can share one page.

    Args:
        name: the section's name (unique in the page).
        markdown: the new content of the section.
        doc: the Markdown file (created with ``header`` if missing).
        header: the text a new page starts with.
        before: where a new section goes: before the first occurrence of this text (e.g. another
            section's marker); at the end of the page when not given or not found.

    Returns:
        The path of the page.
    """
    doc = Path(doc)
    text = doc.read_text(encoding="utf-8") if doc.exists() else header
    block = f"<!-- BEGIN {name} -->\n{markdown.rstrip()}\n<!-- END {name} -->"
    pattern = re.compile(rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    elif before is not None and before in text:
        at = text.index(before)
        text = f"{text[:at]}{block}\n\n{text[at:]}"
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    return atomic_write_text(doc, text)
