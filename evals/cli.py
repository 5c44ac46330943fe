"""`rag eval`: placeholder until the harness lands."""

import typer

eval_app = typer.Typer(help="Evaluate the assistant against the gold set.", no_args_is_help=True)
