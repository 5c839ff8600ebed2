"""`cli.usage.patch_typer_coercion`: unset parameters skip typer's pydantic coercion, and nothing
else changes (values still coerced, required ones still required, callbacks still called)."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.testing import CliRunner

from walletsync.cli.usage import patch_typer_coercion

seen: dict[str, object] = {}


def _note_unset(value: str | None) -> str | None:
    seen["callback"] = value
    return value


app = typer.Typer(add_completion=False)


@app.command()
def run(
    must: Annotated[int, typer.Option()],
    name: Annotated[str | None, typer.Option(callback=_note_unset)] = None,
    tags: Annotated[list[str] | None, typer.Option()] = None,
    count: Annotated[int | None, typer.Option()] = None,
) -> None:
    seen.update(must=must, name=name, tags=tags, count=count)


def test_unset_values_reach_the_command_as_typer_gives_them() -> None:
    patch_typer_coercion()
    patch_typer_coercion()  # idempotent
    seen.clear()
    result = CliRunner().invoke(app, ["--must", "7"])
    assert result.exit_code == 0, result.output
    assert seen == {"callback": None, "must": 7, "name": None, "tags": None, "count": None}


def test_given_values_are_still_coerced_and_checked() -> None:
    patch_typer_coercion()
    seen.clear()
    result = CliRunner().invoke(app, ["--must", "3", "--count", "5", "--tags", "a", "--tags", "b"])
    assert result.exit_code == 0, result.output
    assert seen["count"] == 5
    assert seen["tags"] == ["a", "b"]
    bad = CliRunner().invoke(app, ["--must", "x"])
    assert bad.exit_code == 2
    assert "valid integer" in bad.output


def test_a_required_option_left_unset_is_still_missing() -> None:
    patch_typer_coercion()
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2
    assert "Missing option '--must'" in result.output
