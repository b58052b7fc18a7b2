"""Text helpers for product pages."""

from __future__ import annotations

import re


def slugify(title: str) -> str:
    """URL-friendly form of a title: lowercase words joined by dashes.

    >>> slugify("Hello, World!")
    'hello-world'
    """
    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words)


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with an ellipsis when cut."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
