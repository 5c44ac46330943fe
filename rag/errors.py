"""The library's errors: one base with a message written for the person who made the request.

Every shell maps them the same way from `status` alone: an API answers with it, a CLI exits 2 for
a 4xx (the request can be fixed: change it and try again) and 1 for anything else, and the chat
shows the message. Anything that is not a RagError is a bug and is reported as one.
"""

from __future__ import annotations


class RagError(Exception):
    """An expected failure; `str(error)` says what happened and what to do about it."""

    status = 500

    @property
    def bad_input(self) -> bool:
        return 400 <= self.status < 500


class InvalidRequest(RagError):
    """The request cannot be answered as given: a question, k, article ids, model name or history.
    `param` names the field at fault, for APIs that report it."""

    status = 400
    param: str | None = None

    def __init__(self, message: str = "", param: str | None = None):
        super().__init__(message)
        self.param = param or self.param


class InvalidQuestion(InvalidRequest):
    """The question itself is unusable (empty, too long, not plain text)."""

    param = "question"


class InvalidDate(InvalidRequest):
    """A date the request gives (a timeline filter) is not a date written YYYY, YYYY-MM or YYYY-MM-DD."""


class SettingsError(InvalidRequest):
    """A settings value, a config file or an environment variable is wrong."""


class DocumentError(InvalidRequest):
    """A file that cannot become an article; the message names the file."""


class IndexUnavailable(RagError):
    """The index cannot be used right now; the message says how to fix it."""

    status = 503


class IndexMissing(IndexUnavailable):
    """There is no index yet, or it was built for another embedder, chunking or format: build it."""


class IndexDamaged(IndexUnavailable):
    """The live generation is unreadable or disagrees with its manifest: refused, and not silently
    replaced either (it may have been tampered with); `rag index rebuild` makes a new one."""


class IndexBusy(IndexUnavailable):
    """Another process kept the index's write lock for longer than the timeout."""


class LLMError(RagError):
    """The model could not produce an answer (unreachable endpoint, missing model file...)."""

    status = 502


class PromptError(RagError):
    """A prompt template is missing or does not declare the variables it uses."""
