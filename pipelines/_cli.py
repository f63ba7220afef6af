"""What every stage CLI shares: logging set-up and a clean one-line error for people instead of a traceback."""

from __future__ import annotations

import logging
import os
import sys

import typer


def stage_app(doc: str | None) -> typer.Typer:
    """A Typer app for one stage, with `--help` built from the module docstring."""
    return typer.Typer(add_completion=False, help=doc, pretty_exceptions_show_locals=False)


def setup_logging() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def run(app: typer.Typer) -> None:
    """Run `app`; expected failures (bad data, bad parameters, missing files) end with one clear line.

    Set LOG_LEVEL=DEBUG to see the traceback as well.
    """
    try:
        app()  # standalone: usage errors print the usage and exit 2
    except (ValueError, OSError, RuntimeError, LookupError) as exc:
        logging.getLogger("pipelines").debug("stage failed", exc_info=True)
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(1)
