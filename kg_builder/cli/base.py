"""What every command group shares: the settings, the error boundary, the common options and
the three ways a report leaves (text, ``--json``, ``--json FILE``)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from kg_api.errors import KGApiError
from kg_builder.core.errors import KGBuilderError, SettingsError
from kg_builder.core.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
MAX_REPORTED = 100
FORMATS = ("jsonl", "sarcasm", "miko")  # the readers' formats (kg_builder.inputs.readers)


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = Settings()
        except ValidationError as exc:
            raise click.ClickException(str(SettingsError(
                f"invalid MIKO_* setting: {exc}. Fix the environment or .env; `miko config` "
                "lists every setting"))) from exc
    settings: Settings = obj["settings"]
    return settings


def command(group: click.Group | None, name: str,
            *decorators: Callable[[Any], Any]) -> Callable[[F], Any]:
    """A command (of ``group``, or a top-level one for ``cli.py`` to add) that gets the context
    and turns the packages' errors into click errors, whose message says what to fix."""

    def wrap(func: F) -> Any:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except (KGBuilderError, KGApiError) as exc:
                raise click.ClickException(str(exc)) from exc

        wrapped: Any = click.pass_context(run)
        for decorator in reversed(decorators):
            wrapped = decorator(wrapped)
        return (group.command(name) if group is not None else click.command(name))(wrapped)

    return wrap


json_opt = click.option(
    "--json", "json_out", is_flag=False, flag_value="-", default=None, metavar="[FILE]",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The report as one JSON object: alone on stdout (`--json`, `--json -`), or written to "
    "FILE beside the text.")
progress_opt = click.option("--progress/--no-progress", default=None,
                            help="Show a progress bar (default: when stderr is a terminal).")
format_opt = click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl",
                          show_default=True, help="Input format (see README).")
images_opt = click.option("--images", "images_dir", type=click.Path(file_okay=False, path_type=Path),
                          help="Folder the posts' image paths are relative to.")


def report(data: dict[str, Any], json_out: Path | None, lines: Callable[[], Sequence[str]]) -> None:
    """Print a report: the JSON alone on stdout (``--json``/``--json -``), or the text
    (``lines()``) with the JSON written to ``--json FILE``."""
    text = json.dumps(data, indent=2, default=str)
    if json_out is not None and str(json_out) == "-":
        click.echo(text)
        return
    if json_out is not None:
        json_out.write_text(text + "\n", encoding="utf-8")
    click.echo("\n".join(lines()))


def json_only(json_out: Path | None) -> bool:
    """Whether the report goes alone to stdout (nothing else may be printed there)."""
    return json_out is not None and str(json_out) == "-"


def echo_some(lines: list[str], more: str = "") -> None:
    """The first MAX_REPORTED lines on stderr, then how many more there are."""
    for line in lines[:MAX_REPORTED]:
        click.echo(line, err=True)
    if len(lines) > MAX_REPORTED:
        click.echo(f"... and {len(lines) - MAX_REPORTED} more{more}", err=True)


def echo_rejected(rejected: Sequence[Any], what: str) -> None:
    """Each rejected item with its location and reason, then a non-zero exit."""
    if rejected:
        echo_some([f"{r.location()}: {r.reason}" for r in rejected])
        raise click.ClickException(f"{len(rejected)} {what} rejected (see above); the rest was done")


def say(message: str) -> None:
    """Progress and warnings: on stderr, so that stdout stays the report."""
    click.echo(message, err=True)
