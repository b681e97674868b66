"""What every command group shares: the settings, the error boundary, the common options and
the three ways a report leaves (text, ``--json``, ``--json-out FILE``)."""

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


def json_opt(func: F) -> F:
    """``--json`` (the report as one JSON object, alone on stdout) and ``--json-out FILE`` (the
    JSON written to FILE, the text printed as well), folded into one ``json_out`` argument:
    '-' for stdout, FILE, or None."""

    @functools.wraps(func)
    def folded(*args: Any, as_json: bool, json_file: Path | None, **kwargs: Any) -> Any:
        if as_json and json_file is not None:
            raise click.UsageError("--json prints the JSON report on stdout, --json-out FILE "
                                   "writes it to FILE: give one of them")
        return func(*args, json_out=Path("-") if as_json else json_file, **kwargs)

    wrapped: Any = click.option(
        "--json-out", "json_file", type=click.Path(dir_okay=False, path_type=Path),
        help="Also write the report as one JSON object to this file.")(folded)
    result: F = click.option("--json", "as_json", is_flag=True,
                             help="Print the report as one JSON object (alone on stdout).")(wrapped)
    return result


progress_opt = click.option("--progress/--no-progress", default=None,
                            help="Show a progress bar (default: when stderr is a terminal).")
format_opt = click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl",
                          show_default=True, help="Input format (see README).")
images_opt = click.option("--images", "images_dir", type=click.Path(file_okay=False, path_type=Path),
                          help="Folder the posts' image paths are relative to.")


def report(data: dict[str, Any], json_out: Path | None, lines: Callable[[], Sequence[str]]) -> None:
    """Print a report: the JSON alone on stdout (``json_out`` '-', from ``--json``), or the
    text (``lines()``) with the JSON written to ``--json-out FILE``."""
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
