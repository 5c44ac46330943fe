"""A deliberately textbook LangChain "stuff" RAG, the baseline `bench.py --side-by-side` measures
the assistant against.

It is what the LangChain tutorials build, on purpose with none of the assistant's machinery:
1000-character chunks, FAISS top 4, the four chunks pasted into one prompt, the model's reply
returned as is (no hybrid retrieval, evidence selection, abstention gate or claim checking).
Only the corpus, the embedder and the GGUF file are shared, so the comparison is about the design.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from langchain_community.vectorstores import FAISS
from langchain_core.documents import Document
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.documents import Article, load_corpus
from rag.embedders import make_embedder
from rag.settings import Settings

CHUNK_SIZE, CHUNK_OVERLAP, K, N_CTX = 1000, 200, 4, 4096

# The LangChain RAG tutorial prompt, plus the [n] citation the assistant's answers also carry.
PROMPT = ChatPromptTemplate.from_messages([
    ("system",
     "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to "
     "answer the question, and cite the pieces you use as [n]. If you don't know the answer, say that you "
     "don't know. Use three sentences maximum and keep the answer concise.\n\nContext:\n{context}"),
    ("human", "{question}"),
])


def format_docs(docs: list[Document]) -> str:
    """Number the chunks so the model has something to cite as [n]."""
    return "\n\n".join(f"[{n}] {doc.page_content}" for n, doc in enumerate(docs, 1))


def local_chat_model(settings: Settings) -> BaseChatModel:
    """The assistant's GGUF file through LangChain's llama.cpp wrapper, its other options left at
    their defaults as a tutorial would (verbose off only to keep llama.cpp's log out of the table).

    It loads under the assistant's own guard against llama.cpp's extra weight buffers: without it
    the first decode segfaults on this project's CPUs, and with it both systems run the same kernels.
    """
    from langchain_community.chat_models import ChatLlamaCpp

    from rag.llms.llama_cpp import loading_settings
    from rag.llms.model_files import ensure_local_model

    path = ensure_local_model(settings.local_model, settings.model_cache_dir)
    with loading_settings(settings.llama_extra_buffers):
        # n_batch=512 is llama.cpp's own default (ours too); ChatLlamaCpp's default of 8 would make the
        # baseline's prefill ~3x slower, a comparison we would win on a misconfiguration.
        return ChatLlamaCpp(model_path=str(path), n_ctx=N_CTX, temperature=0.0, max_tokens=settings.max_tokens,
                            n_threads=os.cpu_count(), n_batch=512, verbose=False)


class StuffRAG:
    def __init__(self, articles: list[Article], embedder, chat_model: BaseChatModel):
        splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
        docs = splitter.create_documents([a.text for a in articles],
                                         [{"doc_id": a.doc_id, "title": a.title} for a in articles])
        self.store = FAISS.from_documents(docs, embedder)
        self.chat_model = chat_model
        retriever = self.store.as_retriever(search_kwargs={"k": K})
        self.chain = ({"context": retriever | format_docs, "question": RunnablePassthrough()}
                      | PROMPT | chat_model | StrOutputParser())

    @classmethod
    def from_settings(cls, settings: Settings, chat_model: BaseChatModel | None = None) -> StuffRAG:
        """Same corpus and embedder as the assistant; `chat_model` stands in for the local model in tests."""
        return cls(load_corpus(settings.corpus_dir), make_embedder(settings),
                   chat_model if chat_model is not None else local_chat_model(settings))

    def stream(self, question: str) -> Iterator[str]:
        return self.chain.stream(question)

    def prompt_tokens(self, reply: str) -> int | None:
        """Tokens of the last prompt, counted as rag.llms.llama_cpp counts the assistant's (the llama
        context holds prompt + reply, the last token unevaluated); None for a model without a llama client."""
        llama = getattr(self.chat_model, "client", None)
        if llama is None:
            return None
        completion = len(llama.tokenize(reply.encode(), add_bos=False, special=True)) if reply else 0
        return max(llama.n_tokens - max(completion - 1, 0), 0)
