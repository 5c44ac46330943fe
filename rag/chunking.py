"""Stage 2 — split cleaned articles into citable passages with exact character offsets."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from rag.documents import Article
from rag.sentences import SentenceSpan, split_article

# Paragraph, then line, then sentence boundaries, then words: a passage rarely cuts a sentence.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    start: int
    end: int
    text: str
    header: str = ""  # article title, authors, date and section heading: context for search, not citable

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def search_text(self) -> str:
        """What is embedded and BM25-indexed: the header places a passage that never names its topic."""
        return f"{self.header}\n{self.text}" if self.header else self.text


def article_header(article: Article) -> str:
    """One line naming the article: title, authors, date (what the text states, nothing guessed)."""
    parts = [article.title, ", ".join(article.authors), article.date or ""]
    return " | ".join(p for p in parts if p)


def chunk_header(article: Article, sentences: list[SentenceSpan], start: int) -> str:
    """The article line plus the last section heading before `start` (the title itself is not one)."""
    heading = next((s.text for s in reversed(sentences) if s.heading and 0 < s.start <= start
                    and s.text != article.title), None)
    return article_header(article) + (f"\nSection: {heading}" if heading else "")


def chunk_id_for(doc_id: str, text: str) -> str:
    """Stable across rebuilds: the same passage of the same article always gets the same id."""
    return hashlib.sha256(f"{doc_id}\x1f{text}".encode()).hexdigest()[:16]


def chunk_article(article: Article, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=SEPARATORS,
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )
    sentences = split_article(article.doc_id, article.text)
    chunks = []
    for piece in splitter.create_documents([article.text]):
        start = piece.metadata["start_index"]
        text = piece.page_content
        if start < 0 or article.text[start : start + len(text)] != text:
            start = article.text.find(text)  # the splitter's offset guess can miss on repeats
        chunks.append(
            Chunk(
                chunk_id=chunk_id_for(article.doc_id, text),
                doc_id=article.doc_id,
                title=article.title,
                start=start,
                end=start + len(text),
                text=text,
                header=chunk_header(article, sentences, start),
            )
        )
    return chunks


def chunk_articles(articles: list[Article], chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    return [c for a in articles for c in chunk_article(a, chunk_size, chunk_overlap)]
