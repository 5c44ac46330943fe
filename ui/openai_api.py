"""The assistant as an OpenAI-compatible service: `/v1/models` and `/v1/chat/completions`, served by
`rag serve` beside the chat (same process, same Assistant, and its model lock, so a chat answer
and an API answer never run the model at once).

A request maps onto `Assistant.ask_stream`: the last message is the question, the user and
assistant messages before it the history (a follow-up is rewritten as in the chat; system
messages are ignored: the server's prompt decides how to answer), `model` "kuril-rag" is the
default model and any other entry of /v1/models picks that one, `k` and `doc_ids` (extra_body)
narrow the search. The answer is the checked one, with [n] markers; its citations come twice:
as OpenAI `annotations` (url_citation: where each [n] is in the content, the article's title and
a link that opens the chat at the passage) and as `citations`, the objects of `rag ask --json`.

Streaming sends the checked answer, not the model's draft: a client can only append, and the
check re-points and renumbers citations. So the content arrives a sentence at a time, each as
soon as the model has started the next one, and adds up to the non-streamed answer. The final
chunk (finish_reason "stop") carries the annotations, the citations and the usage. In the one
case where the check turns an answer into an abstention after sentences were sent (a later
sentence says "the articles do not say"), that chunk has no citations and an extra field
`answer` with the final text.

Deliberately not Gradio's queue: API clients wait on the model lock instead, at most
`queue_size` of them (more get 429 at once, which the OpenAI clients retry later).
"""

import json
import logging
import re
import threading
import time
import uuid
from itertools import chain
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from rag.errors import InvalidRequest, RagError

if TYPE_CHECKING:
    from fastapi import APIRouter

    from rag.service import Answer, Assistant

log = logging.getLogger(__name__)

MODEL_ID = "kuril-rag"  # the server's default model; the local model names select one
PARAMS = {"question": "messages", "history": "messages"}  # the library's field → the request's


def error_body(message: str, status: int, param: str | None = None, code: str | None = None) -> dict:
    kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def rag_error_body(exc: RagError) -> dict:
    param = getattr(exc, "param", None)
    return error_body(str(exc), exc.status, PARAMS.get(param, param))


def _text(content: object, i: int) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(
            p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise InvalidRequest(f"messages[{i}].content must be text or a list of text parts", f"messages[{i}].content")


def parse(body: object) -> dict:
    """The ask_stream arguments of a chat-completions body (InvalidRequest for a malformed one)."""
    from rag.text import CITATION_MARKER

    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list of {role, content} objects", "messages")
    turns = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role in ("system", "developer"):
            continue
        if role not in ("user", "assistant"):
            raise InvalidRequest(f"messages[{i}].role must be system, user or assistant, not {role!r}",
                                 f"messages[{i}].role")
        text = _text(m.get("content"), i)
        # Earlier answers come back with their [n] markers; the chat's history has none either.
        turns.append({"role": role, "content": re.sub(r"\s*" + CITATION_MARKER.pattern, "", text)
                      if role == "assistant" else text})
    if not turns or turns[-1]["role"] != "user":
        raise InvalidRequest("the last message must be the user's question", "messages")
    model, stream = body.get("model"), body.get("stream", False)
    if not isinstance(model, str):
        raise InvalidRequest(f"model must be a string: {MODEL_ID!r} or one listed at /v1/models", "model")
    if not isinstance(stream, bool):
        raise InvalidRequest("stream must be true or false", "stream")
    return {"question": turns[-1]["content"], "history": turns[:-1] or None, "k": body.get("k"),
            "doc_ids": body.get("doc_ids"), "model": None if model == MODEL_ID else model, "stream": stream}


def passage_link(base_url: str, citation: dict) -> str:
    """A link that opens the chat's Articles tab at the cited passage, its supporting span marked."""
    return f"{base_url}?" + urlencode({key: citation[key] for key in (
        "doc_id", "start", "end", "quote_start", "quote_end")})


def annotations(text: str, citations: list[dict], base_url: str) -> list[dict]:
    """One url_citation per [n] in `text`, indexing the marker itself."""
    from rag.text import CITATION_MARKER

    by_n = {c["n"]: c for c in citations}
    return [{"type": "url_citation", "url_citation": {
                "start_index": m.start(), "end_index": m.end(), "title": by_n[n]["title"],
                "url": passage_link(base_url, by_n[n])}}
            for m in CITATION_MARKER.finditer(text) for n in map(int, m.group(1).split(",")) if n in by_n]


def usage(answer: "Answer") -> dict:
    prompt, completion = answer.usage.get("prompt_tokens", 0), answer.usage.get("completion_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def cited(answer: "Answer", text: str, base_url: str) -> dict:
    """The two forms of the citations of `answer`, for a message whose content is `text`."""
    citations = [c.to_dict() for c in answer.citations] if text == answer.answer else []
    return {"annotations": annotations(text, citations, base_url), "citations": citations}


def router(assistant: "Assistant") -> "APIRouter":
    """The /v1 routes, answering from `assistant`."""
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    from rag.service import Checked, Done

    api = APIRouter(prefix="/v1")
    slots = threading.BoundedSemaphore(assistant.settings.queue_size)
    started = int(time.time())

    def fail(body: dict, status: int) -> JSONResponse:
        return JSONResponse(body, status_code=status)

    @api.get("/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": started, "owned_by": "kuril-rag"}
                                           for name in (MODEL_ID, *assistant.models)]}

    @api.post("/chat/completions")
    async def chat_completions(request: Request):
        try:
            request_args = parse(await request.json())
        except ValueError:  # not JSON (json.JSONDecodeError and UnicodeDecodeError are ValueErrors)
            return fail(error_body("the request body is not valid JSON", 400), 400)
        except InvalidRequest as exc:
            return fail(rag_error_body(exc), exc.status)
        if not slots.acquire(blocking=False):
            return fail(error_body("the queue is full: too many requests are waiting for the model; try again "
                                   "shortly", 429, code="queue_full"), 429)
        stream, model = request_args.pop("stream"), request_args["model"] or MODEL_ID
        base_url, reply_id, created = str(request.base_url), f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if not stream:
            try:
                answer = await run_in_threadpool(lambda: assistant.ask(**request_args))
            except RagError as exc:
                return fail(rag_error_body(exc), exc.status)
            finally:
                slots.release()
            message = {"role": "assistant", "content": answer.answer, "refusal": None,
                       **cited(answer, answer.answer, base_url)}
            return {"id": reply_id, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                    "usage": usage(answer)}
        events = assistant.ask_stream(**request_args, checked_pieces=True)
        try:
            first = await run_in_threadpool(next, events)  # the request is validated before the first event
        except BaseException as exc:
            slots.release()
            if isinstance(exc, RagError):
                return fail(rag_error_body(exc), exc.status)
            raise

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            return "data: " + json.dumps({"id": reply_id, "object": "chat.completion.chunk", "created": created,
                                          "model": model, "choices": [{"index": 0, "delta": delta,
                                                                       "finish_reason": finish}], **extra},
                                         ensure_ascii=False) + "\n\n"

        def sse():
            sent = ""
            try:
                yield chunk({"role": "assistant", "content": ""})
                for event in chain([first], events):
                    if isinstance(event, Checked):
                        sent += event.text
                        yield chunk({"content": event.text})
                    elif isinstance(event, Done):
                        final = cited(event.answer, sent, base_url)
                        if sent != event.answer.answer:
                            final["answer"] = event.answer.answer
                        yield chunk(final, "stop", usage=usage(event.answer))
                yield "data: [DONE]\n\n"
            except RagError as exc:  # the model or the index failed mid-answer: the client raises it
                yield "data: " + json.dumps(rag_error_body(exc), ensure_ascii=False) + "\n\n"
            except Exception:
                log.exception("answering %r failed", request_args["question"])
                yield "data: " + json.dumps(error_body("something went wrong on the server (the details are in "
                                                       "its log)", 500)) + "\n\n"
            finally:
                events.close()
                slots.release()

        # Started here, so that its `finally` frees the slot even if the client leaves before reading.
        body = sse()
        return StreamingResponse(chain([next(body)], body), media_type="text/event-stream")

    return api

