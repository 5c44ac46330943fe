"""`rag serve`: the chat joins the command line as a plugin (entry point `kuril_rag.commands`)."""

from __future__ import annotations

from typing import Annotated

import typer

from shells.common import ConfigOpt, LLMOpt, ModelOpt, build_settings, flag, guard


def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port")] = 7860,
    share: Annotated[bool, flag("--share", help="create a public Gradio share link")] = False,
    llm: LLMOpt = None, local_model: ModelOpt = None, config: ConfigOpt = None,
):
    """Start the chat, its /ask, /compare and /timeline API and the OpenAI-compatible /v1 API."""
    settings = build_settings(config, llm=llm, local_model=local_model)
    with guard():
        from ui.app import launch

        launch(settings, host=host, port=port, share=share)


def register(app: typer.Typer) -> None:
    app.command()(serve)
