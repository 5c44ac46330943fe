"""Stage 5a — chat LLM backends behind one small interface; `make_llm` picks one by setting."""

from rag.errors import LLMError
from rag.llms.base import LLM, Message, Usage
from rag.llms.factory import make_llm

__all__ = ["LLM", "LLMError", "Message", "Usage", "make_llm"]
