"""What every shell shares: the command-line options they have in common, settings from those
options, one mapping of the library's errors to a message and an exit code, and the progress bar.

Only typer loads at import time, so `rag --help` stays instant; everything else loads when used.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from rag.settings import K_MAX, LLM_BACKENDS, LOCAL_MODELS

ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="TOML settings file (else $RAG_CONFIG, ./rag.toml)", show_default=False)]
KOpt = Annotated[Optional[int], typer.Option(
    "--k", min=1, max=K_MAX, help="chunks to retrieve (evidence is selected from their sentences)", show_default=False)]
LLMOpt = Annotated[Optional[Literal[LLM_BACKENDS]], typer.Option(
    "--llm", help="answering backend (auto: an OpenAI-compatible endpoint if configured, else local)",
    show_default=False)]
ModelOpt = Annotated[Optional[Literal[LOCAL_MODELS]], typer.Option(
    "--local-model", help="bundled model for the local backend", show_default=False)]


def flag(*names: str, help: str):
    """A boolean flag, shown in help without a value placeholder."""
    return typer.Option(*names, help=help, metavar="")


def fail(message: str, code: int = 2):
    """Print `error: message` on stderr and exit: 2 for input the user can fix, 1 for failures."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def guard(note: str = ""):
    """The library's errors become their message and an exit code (2 for bad input, 1 otherwise);
    `note` is added to the message of bad input (e.g. "nothing was added")."""
    from rag.errors import RagError

    try:
        yield
    except RagError as exc:
        fail(f"{exc}{note if exc.bad_input else ''}", 2 if exc.bad_input else 1)
    except OSError as exc:  # disk full, permission denied, address in use...
        where = f" ({exc.filename})" if exc.filename else ""
        fail(f"{exc.strerror or exc}{where}", code=1)


def build_settings(config: Path | None, **overrides):
    from rag.settings import load_settings

    with guard():
        return load_settings(config, **overrides)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def progress_factory(total: int, label: str):
    """A rich progress bar on stderr with the rate (items/s), advanced by the callback the pipeline receives."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:,.0f}/s" if task.speed else "", style="progress.data.speed")

    console = stderr_console()
    if not console.is_terminal:  # a log file gets no bar redrawn into blank lines
        return lambda n: None
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(), TimeElapsedColumn(),
                   transient=True, console=console)
    task = bar.add_task(label, total=total)
    bar.start()

    def advance(n: int) -> None:
        bar.update(task, advance=n)
        if bar.tasks[task].completed >= total:
            bar.stop()

    return advance


@contextmanager
def status(message: str):
    """A spinner with `message` on stderr while something slow runs (silent when not a terminal)."""
    console = stderr_console()
    if not console.is_terminal:
        yield
        return
    with console.status(message):
        yield


def load_assistant(settings, preload_llm: bool = False):
    """The library's Assistant, with a status line saying what loads; with `preload_llm` the default
    model loads at the same time as the embedder and the index, for commands that will answer."""
    from rag.llms.factory import model_choices
    from rag.service import Assistant

    loading = f"the embedder, the index and {model_choices(settings)[0]}" if preload_llm else \
        "the embedder and the index"
    with guard(), status(f"loading {loading}…"):
        return Assistant.from_settings(settings, preload=preload_llm)
