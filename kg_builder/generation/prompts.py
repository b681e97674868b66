"""Prompt templates: files in ``prompts/``, checked for their placeholders when loaded.

A template's version is the hash of its text; it goes into the stage cache key and onto the
edges it produces, so changing a prompt never reuses answers made with the old one.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

from kg_builder.core.errors import PromptTemplateError
from kg_builder.core.resources import PROMPTS_DIR


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str
    placeholders: frozenset[str]

    @property
    def version(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]

    def render(self, **values: str) -> str:
        missing = self.placeholders - set(values)
        extra = set(values) - self.placeholders
        if missing or extra:
            raise PromptTemplateError(
                f"prompt {self.name!r}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return self.text.format(**values)


def load_template(name: str, expected: set[str], directory: Path = PROMPTS_DIR) -> PromptTemplate:
    """Load ``prompts/<name>.txt`` and check that its placeholders are exactly ``expected``."""
    path = directory / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptTemplateError(f"prompt file {path} cannot be read: {exc.strerror}") from exc
    try:
        found = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        raise PromptTemplateError(
            f"{path}: {exc}; write literal braces as {{{{ and }}}}") from exc
    if found != expected:
        raise PromptTemplateError(
            f"{path}: placeholders {sorted(found)} but the stage fills {sorted(expected)}; "
            "fix the file so that they match")
    return PromptTemplate(name=name, text=text, placeholders=frozenset(found))
