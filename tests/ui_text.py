"""What a person reads of text the UI escaped (ui/render.py: inert), for AppTest, which
reports the Markdown source of each element."""

from __future__ import annotations

import re

__all__ = ["shown"]


def shown(markdown: str) -> str:
    """``markdown`` without its backslash escapes and zero-width spaces."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")
