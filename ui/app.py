"""The Gradio chat: layout and event wiring. Markup comes from ui.render, answers from rag.service.

`launch(settings)` is what `rag serve` calls; `build_app(assistant)` is separate so tests can build
the same app around an Assistant with a fake LLM. The OpenAI-compatible API (ui.openai_api) is
served by the same server, beside the chat. Gradio is imported inside functions so that
`rag --help` stays fast; hence no `from __future__ import annotations` here: Gradio reads the
`gr.EventData` hint of a handler at runtime, and only a real class there makes it pass the event.
"""

import itertools
import logging
import sys
import uuid
from types import SimpleNamespace
from typing import TYPE_CHECKING

from ui import render
from ui.compare import compare_endpoint, compare_tab
from ui.render import Turn
from ui.timeline import timeline_tab

if TYPE_CHECKING:
    import gradio as gr

    from rag.documents import Article
    from rag.llms import Message
    from rag.service import Answer, Assistant, Event
    from rag.settings import Settings

log = logging.getLogger(__name__)

EXAMPLES = [
    "What did the 1956 Japanese-Soviet declaration provide?",
    "What did Putin announce for the Kuril Islands in 2021?",
    "Why did Moscow say further discussion of a peace treaty with Japan was impossible?",
    "How did Russia–Japan trade turnover develop between 2017 and 2018?",
    "What did Prime Minister Fumio Kishida say about the Kuril Islands in 2024?",
]
LLM_GROUP = "llm"  # every event that runs the model shares one slot: the local model is not re-entrant

# A source card's or catalogue entry's button asks the server to show that article (at the cited
# evidence, with the span supporting the sentence marked).
OPEN_ARTICLE_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button.open-article');
  if (!button) return;
  const d = button.dataset;
  trigger('click', {doc_id: d.doc, start: d.start, end: d.end, quote_start: d.quoteStart, quote_end: d.quoteEnd});
});
"""
# The article view scrolls its text (not the page, so the title stays in view) to the highlighted
# passage whenever it shows a new one; the delay lets the Articles tab become visible first.
REVEAL_PASSAGE_JS = """
const reveal = () => setTimeout(() => {
  const text = element.querySelector('.article-text');
  const mark = text && text.querySelector('mark.passage');
  if (mark) text.scrollTop = mark.offsetTop - text.clientHeight / 4;
}, 150);
watch('value', reveal);
reveal();
"""
# [n] links highlight their source with CSS :target. A new question must show its own sources,
# so forget the old target: navigating to an unused fragment clears :target without scrolling.
FORGET_TARGET_JS = """
() => {
  if (location.hash) {
    location.hash = '#_';
    history.replaceState(null, '', location.pathname + location.search);
  }
}
"""


def launch(settings: "Settings", host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> None:
    from rag.service import Assistant
    from ui.guard import exposure_warning

    check_port(host, port)  # a taken port fails now, not after the model has loaded
    key = settings.api_key.get_secret_value() if settings.api_key else None
    if warning := exposure_warning(host, share, key):
        print(f"warning: {warning}", file=sys.stderr)
    print("Loading the index and the model…", file=sys.stderr)
    assistant = Assistant.from_settings(settings, warm=True)  # loads beside the index, then reads its instructions
    start(build_app(assistant), host, port, share=share, extra_hosts=settings.allowed_hosts, assistant=assistant,
          api_key=key)


def start(demo: "gr.Blocks", host: str, port: int, *, share: bool = False, extra_hosts: tuple[str, ...] = (),
          block: bool = True, assistant: "Assistant | None" = None, api_key: str | None = None) -> None:
    """Serve the app behind the Host/Origin guard and, once a key is set, the API-key guard (ui.guard),
    with the OpenAI-compatible /v1 routes answering from `assistant`: `rag serve` and the tests
    start it alike."""
    from starlette.middleware import Middleware

    from ui.guard import ApiKeyGuard, HostOriginGuard, host_names
    from ui.openai_api import router

    middleware = [Middleware(HostOriginGuard, names=host_names(host, extra_hosts, share), port=port)]
    if api_key:
        middleware.append(Middleware(ApiKeyGuard, key=api_key))
    # FastAPI(routes=...): Gradio builds its app from these kwargs, so /v1 is served before its own routes.
    routes = router(assistant).routes if assistant is not None else []
    demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block, quiet=not block,
                app_kwargs={"middleware": middleware, "routes": routes})


def check_port(host: str, port: int) -> None:
    """Bind and release the address the server will use; OSError with what to do if it cannot."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
            probe.bind(address)
    except OSError as exc:
        fix = ("give --host an address or name of this machine" if isinstance(exc, socket.gaierror)
               else "stop the program using that port or pass --port with another number")
        raise OSError(exc.errno, f"cannot listen on {host}:{port} ({exc.strerror or exc}): {fix}") from None


def apply_event(turn: Turn, event: "Event") -> None:
    """Fold one ask_stream event into the turn being answered."""
    from rag.service import Done, Retrieved, Status, Token

    if isinstance(event, Status):
        turn.stage = event.stage
        turn.query = event.detail or turn.query
    elif isinstance(event, Retrieved):
        turn.passages = event.passages
        turn.standalone = event.standalone_question
    elif isinstance(event, Token):
        turn.draft += event.text
    elif isinstance(event, Done):
        turn.answer = event.answer


def plain_answer(answer: "Answer") -> str:
    """The answer as conversation history for the follow-up rewrite: no [n] markers, no rejected text."""
    return answer.answer if answer.abstained else " ".join(s.text for s in answer.sentences if s.text)


def history_of(turns: list[Turn]) -> "list[Message]":
    return [m for t in turns if t.answer is not None
            for m in ({"role": "user", "content": t.question},
                      {"role": "assistant", "content": plain_answer(t.answer)})]


def _raise(exc: Exception):
    raise exc
    yield  # a generator: the error surfaces where events are read


def scope_label(doc_ids: list[str], n_articles: int, k: int) -> str:
    searched = f"{len(doc_ids)} of {n_articles} articles" if doc_ids else f"all {n_articles} articles"
    return f"{searched} · top {render.count(k, 'passage')}"


def _span(evt: "gr.EventData", start: str, end: str, size: int) -> tuple[int, int] | None:
    """Offsets sent back by the browser: trusted only as far as they fit the article."""
    try:
        span = int(getattr(evt, start)), int(getattr(evt, end))
    except (AttributeError, TypeError, ValueError):
        return None
    return span if 0 <= span[0] <= span[1] <= size else None


def describe(demo: "gr.Blocks", endpoint, fn) -> None:
    """Give each parameter and return value of a gr.api endpoint the description its docstring has
    (Gradio shows only the function's own in view_api)."""
    from gradio.utils import get_function_description

    _, params, returns = get_function_description(fn)
    returns = [line.strip() for line in returns if line.strip()]
    for block_id, text in zip(endpoint["inputs"], params.values()):
        demo.blocks[block_id]._api_info["additional_description"] = text
    for block_id, text in zip(endpoint["outputs"], returns):
        demo.blocks[block_id]._api_info["description"] = text


def build_app(assistant: "Assistant", max_queue: int | None = None) -> "gr.Blocks":
    """The chat and the /ask API; questions beyond `max_queue` (default: the `queue_size` setting) waiting
    for the model get "queue is full" at once instead of hanging."""
    import gradio as gr

    from rag.errors import RagError
    from rag.settings import K_MAX

    def current_articles() -> "dict[str, Article]":
        """The articles of the index being answered from (the service follows a new one after an ingest)."""
        return {a.doc_id: a for a in assistant.articles()}

    articles = current_articles()
    model = assistant.llm().name  # loads the default model now: a missing model fails at start, not mid-question
    models = assistant.models

    def respond(question: str, turns: list[Turn], doc_ids: list[str], k: float, model: str | None):
        """Stream one answer into the transcript. Mutates `turns` in place (it is the session state)."""
        k = int(k)
        events = assistant.ask_stream(question, k=k, doc_ids=doc_ids or None, history=history_of(turns) or None,
                                      model=model)
        first = []
        try:
            first.append(next(events))  # the request is validated before the first event
        except RagError as exc:
            if exc.bad_input:
                # A toast, not an error state: the question stays in the box to be shortened or fixed.
                # (Toast messages are rendered as HTML, hence esc.)
                gr.Warning(render.esc(f"{str(exc)[:1].upper()}{str(exc)[1:]}."), title="Question not accepted")
                yield gr.skip(), gr.skip(), gr.skip()  # a generator that yields nothing would blank its outputs
                return
            events = _raise(exc)  # shown in the conversation like a failure mid-answer
        articles = current_articles()
        turn = Turn(uuid.uuid4().hex[:8], question.strip(), scope=scope_label(doc_ids, len(articles), k))
        turns.append(turn)
        clear_box = ""  # only once: the reader may already be typing the next question
        try:
            for event in itertools.chain(first, events):
                apply_event(turn, event)
                if not any(t is turn for t in turns):
                    return  # "New conversation" was pressed: stop generating
                yield render.transcript(turns), render.sources(turns, articles), clear_box
                clear_box = gr.skip()
        except RagError as exc:  # the model or the index failed: say so in the conversation
            turn.error = f"Could not answer: {exc}"
        except Exception:  # a bug: keep the page usable, leave the details to the server log
            log.exception("answering %r failed", question)
            turn.error = "Could not answer: something went wrong on the server (the details are in its log)."
        yield render.transcript(turns), render.sources(turns, articles), clear_box

    def switch_model(name: str):
        """Load this session's model now (same queue slot as answering, so never mid-answer); other
        sessions keep theirs."""
        loaded = assistant.llm(name).name
        return (render.header(loaded, len(current_articles()), len(assistant.index.chunks)),
                render.model_details(loaded, assistant.settings))

    def new_conversation(turns: list[Turn]):
        turns.clear()  # in place, so an answer still streaming sees it and stops
        return render.transcript(turns), render.sources(turns, current_articles())

    def open_article(evt: gr.EventData):
        """The article at the passage the browser names (doc_id, start, end, quote_start, quote_end)."""
        articles = current_articles()
        article = articles.get(getattr(evt, "doc_id", None))
        size = len(article.text) if article else 0
        view = render.article_view(article, _span(evt, "start", "end", size),
                                   _span(evt, "quote_start", "quote_end", size))
        return gr.Tabs(selected="articles"), view

    def open_linked_article(request: gr.Request):
        """A link to a cited passage (the API's annotation urls: /?doc_id=…&start=…) opens it."""
        if "doc_id" not in request.query_params:
            return gr.skip(), gr.skip()
        return open_article(SimpleNamespace(**request.query_params))

    # Gradio reads the outputs from the return hint: each yield is one (text, answer) pair.
    def ask(question: str, history: list[dict] | None = None, k: int | None = None,
            doc_ids: list[str] | None = None, model: str | None = None) -> tuple[str, dict | None]:
        """Answer from the articles, streaming: partial answers (the model's draft, None) as it writes,
        then the checked answer and its details.

        Args:
            question: what to ask, in plain text (at most the server's max_question_chars characters).
            history: the conversation so far, oldest first, as [{"role": "user" or "assistant", "content": text}]; a follow-up question is rewritten with it into a standalone one.
            k: how many passages to retrieve, 1 to 20 (default: the server's setting).
            doc_ids: search only these articles (their ids, e.g. from a previous answer's citations); default: all.
            model: one of the models the chat offers (default: the server's).

        Returns:
            The answer text with [n] markers (while streaming: the draft so far).
            None while streaming; at the end the answer as a dict (Answer.to_dict(): citations with doc_id, title and evidence offsets; sentences each with the exact span supporting it, offsets into the article's cleaned text).
        """
        from rag.service import Done, Token

        events = assistant.ask_stream(question, k=k, doc_ids=doc_ids, history=history, model=model)
        draft = ""
        try:
            for event in events:
                if isinstance(event, Token):
                    draft += event.text
                    yield draft, None
                elif isinstance(event, Done):
                    yield event.answer.answer, event.answer.to_dict()
        except RagError as exc:
            raise gr.Error(str(exc), print_exception=False) from None  # said as the library says it

    with gr.Blocks(title="Kuril Islands & Russia–Japan relations: cited answers", analytics_enabled=False) as demo:
        header = gr.HTML(render.header(model, len(articles), len(assistant.index.chunks)),
                         head=f"<style>{render.CSS}</style>", js_on_load=None)
        turns = gr.State([])
        with gr.Tabs() as tabs:
            with gr.Tab("Ask", id="ask"):
                with gr.Row():
                    with gr.Column(scale=3):
                        transcript = gr.HTML(render.transcript([]), elem_id="transcript", max_height="64vh",
                                             autoscroll=True, apply_default_css=False, js_on_load=None)
                        question = gr.Textbox(placeholder="Ask about the Kuril Islands dispute, treaties, trade, "
                                              "diplomacy… (follow-ups welcome)", show_label=False, lines=1,
                                              max_lines=6, submit_btn="Ask", autofocus=True, elem_id="question")
                        gr.Examples([[q] for q in EXAMPLES], inputs=question, label="Start with an example",
                                    api_visibility="private")
                        with gr.Accordion("Search settings and model", open=False):
                            doc_filter = gr.Dropdown([(a.title, a.doc_id) for a in articles.values()], value=[],
                                                     multiselect=True, label="Search only these articles",
                                                     info="Leave empty to search all articles.")
                            k_slider = gr.Slider(1, K_MAX, value=assistant.settings.k, step=1,
                                                 label="Passages to retrieve (k)")
                            model_choice = gr.Dropdown(models, value=models[0], label="Answering model",
                                                       visible=len(models) > 1,
                                                       info="For this conversation only. 0.5b answers about "
                                                            "twice as fast; 1.5b answers better.")
                            details = gr.HTML(render.model_details(model, assistant.settings), js_on_load=None)
                        clear = gr.Button("New conversation", variant="secondary", size="sm")
                    with gr.Column(scale=2):
                        sources = gr.HTML(render.sources([], articles), elem_id="sources-panel",
                                          apply_default_css=False, js_on_load=OPEN_ARTICLE_JS)
            with gr.Tab("Compare sources", id="compare"):
                compare_tab(assistant, LLM_GROUP)
            with gr.Tab("Articles", id="articles"):
                with gr.Row():
                    with gr.Column(scale=2):
                        catalogue = gr.HTML(render.catalogue(articles.values()), elem_id="catalogue",
                                            apply_default_css=False, js_on_load=OPEN_ARTICLE_JS)
                    with gr.Column(scale=3):
                        back = gr.Button("← Back to the conversation", size="sm")
                        article = gr.HTML(render.article_view(None), elem_id="article-view",
                                          apply_default_css=False, js_on_load=REVEAL_PASSAGE_JS)
            with gr.Tab("Timeline", id="timeline"):
                timeline_cards = timeline_tab(assistant, OPEN_ARTICLE_JS)

        question.submit(None, js=FORGET_TARGET_JS)
        question.submit(respond, [question, turns, doc_filter, k_slider, model_choice], [transcript, sources, question],
                        concurrency_limit=1, concurrency_id=LLM_GROUP, show_progress="minimal",
                        show_progress_on=transcript, api_visibility="private")
        model_choice.input(switch_model, model_choice, [header, details], concurrency_limit=1,
                           concurrency_id=LLM_GROUP, api_visibility="private")
        clear.click(None, js=FORGET_TARGET_JS)
        clear.click(new_conversation, turns, [transcript, sources], queue=False, api_visibility="private")
        for panel in (sources, catalogue, timeline_cards):
            panel.click(open_article, None, [tabs, article], queue=False, api_visibility="private")
        back.click(lambda: gr.Tabs(selected="ask"), None, tabs, queue=False, api_visibility="private")
        demo.load(open_linked_article, None, [tabs, article], queue=False, api_visibility="private")
        describe(demo, gr.api(ask, api_name="ask", concurrency_limit=1, concurrency_id=LLM_GROUP), ask)
        gr.api(compare_endpoint(assistant), api_name="compare", concurrency_limit=1, concurrency_id=LLM_GROUP)
    return demo.queue(max_size=max_queue or assistant.settings.queue_size)
