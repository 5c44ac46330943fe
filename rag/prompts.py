"""Prompt templates live in `prompts/*.toml` with declared variables; one function renders them.

Rendering checks that the template uses exactly the declared variables and that the caller
supplies exactly those, so a template edit cannot silently drop the question or the passages.
"""

from __future__ import annotations

import re
import string
import tomllib
from functools import lru_cache
from pathlib import Path

from rag.errors import PromptError
from rag.llms import Message


_MARKER = re.compile(r"\s*\[\d+(?:[,\s]*\d+)*\]")
_SPACE = re.compile(r"\s+")
# What a prompt's reply is: "text", the answer itself; "quote", the numbers of the evidence lines that
# answer, which the system then quotes (rag.generation.quote_evidence) for a model too small to write.
REPLY_KINDS = ("text", "quote")


def inline(text: str) -> str:
    """Text from an article or a conversation as it goes into a prompt: on one line, so it can never
    open a line of its own (a "## " header, an "[n]" evidence line, "Question:", "Follow-up:"), and
    without bracketed numbers, which look like evidence numbers to cite."""
    return _SPACE.sub(" ", _MARKER.sub("", text)).strip()


def _load(path: Path) -> dict:
    if not path.is_file():
        raise PromptError(f"prompt template not found: {path}")
    return _parse(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=32)
def _parse(path: Path, mtime_ns: int) -> dict:
    """Cached per modification time: an edited prompt file is read again by a running server."""
    spec = tomllib.loads(path.read_text(encoding="utf-8"))
    declared = set(spec.get("variables", []))
    used = {field for part in ("system", "user") for _, field, _, _ in string.Formatter().parse(spec[part])
            if field}
    if used != declared:
        raise PromptError(f"{path.name}: template uses {sorted(used)} but declares {sorted(declared)}")
    if spec.setdefault("reply", "text") not in REPLY_KINDS:
        raise PromptError(f"{path.name}: reply must be one of {', '.join(REPLY_KINDS)}, not {spec['reply']!r}")
    return spec


def template_path(prompts_dir: Path, name: str, model: str | None = None) -> Path:
    """`<name>.<model>.toml` when a model needs its own wording, else `<name>.toml`."""
    specific = prompts_dir / f"{name}.{model}.toml"
    return specific if model and specific.is_file() else prompts_dir / f"{name}.toml"


def reply_kind(prompts_dir: Path, name: str, model: str | None = None) -> str:
    """The `reply` a template declares (see REPLY_KINDS); "text" when it declares none."""
    return _load(template_path(prompts_dir, name, model))["reply"]


def render(prompts_dir: Path, name: str, model: str | None = None, **variables: str) -> list[Message]:
    """Render `prompts/<name>.toml` (or its per-model variant) into chat messages."""
    spec = _load(template_path(prompts_dir, name, model))
    declared = set(spec["variables"])
    if set(variables) != declared:
        raise PromptError(f"prompt {name} needs {sorted(declared)}, got {sorted(variables)}")
    return [
        {"role": "system", "content": spec["system"].format(**variables)},
        {"role": "user", "content": spec["user"].format(**variables)},
    ]
