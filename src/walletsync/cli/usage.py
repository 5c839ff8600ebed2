"""Usage errors on one line, and help without typer 0.29's type annotations on every parameter.

Typer formats a usage error as a multi-line boxed panel and, since 0.29, shows required arguments as
`{address}` and every parameter's Python type (`--help <bool>`, `--label <str>`). An operator reads
`walletsync wallets add --chian solana X` better as

    error: No such option: --chian (Possible options: --chain) (see `walletsync wallets add --help`)

and help in click's conventional form (`ADDRESS`, `--label TEXT`, flags without a type). Help is
click's plain formatter (every app sets `rich_markup_mode=None`): typer's rich help imports rich's
markdown and table modules, which made `walletsync --help` take 0.33 s instead of 0.18 (issue 13's
limit is 0.25 s). Typer has no setting for either, so `patch_typer_help` adjusts two display methods of typer's parameter classes
(display only: parsing is untouched), and `report_click_error` prints click's own message, "did you
mean" included, on one line.
"""

from __future__ import annotations

from typing import Any

from typer import core as typer_core

# typer 0.29 vendors click as typer._click: its exceptions are not the `click` package's.
from typer._click import Context
from typer._click import exceptions as click_exceptions

from walletsync.cli.common import err_console


def patch_typer_help() -> None:
    """Click-style metavars in usage lines and help (idempotent)."""

    def usage_name(self: typer_core.TyperArgument) -> str:
        name = (self.metavar or self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name

    def option_type(self: typer_core.TyperOption, ctx: Context) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag or self.count:
            return None
        label = self.display_type(ctx).strip("<>")
        label = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "datetime": "DATETIME"}.get(label, label)
        return f"{label}..." if self.nargs != 1 or self.multiple else label

    def argument_type(self: typer_core.TyperArgument, ctx: Context) -> str | None:
        return None  # the NAME column already says what it is; its help says the rest

    typer_core.TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
    typer_core.TyperArgument._rich_display_name = usage_name  # type: ignore[method-assign]
    typer_core.TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign,assignment]
    typer_core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign]


def patch_typer_coercion() -> None:
    """Parameters left unset skip typer's value coercion, whose first use imports pydantic and builds
    a `TypeAdapter` only for `RuntimeParam.coerce` to return None (idempotent).

    typer 0.29's `_TyperParameter.process_value` builds the runtime parameter before looking at the
    value; for `None` the coercion returns `()` (multi-value) or `None` without using it. Every
    command has an unset `--help`, so `walletsync version` paid 70-120 ms for pydantic (cProfile).
    The replacement does what typer does for `None`, in the same order, and hands every other
    value to typer's own method.
    """
    process_value = typer_core._TyperParameter.process_value
    if getattr(process_value, "skips_unset", False):
        return

    def skip_unset(self: typer_core._TyperParameter, ctx: Context, value: Any) -> Any:
        if value is not None:
            return process_value(self, ctx, value)
        value = () if self.multiple or self.nargs == -1 else None
        if self.required and self.value_is_missing(value):
            raise click_exceptions.MissingParameter(ctx=ctx, param=self)
        if self.callback is not None:
            value = self.callback(ctx, self, value)
        return value

    skip_unset.skips_unset = True  # type: ignore[attr-defined]
    typer_core._TyperParameter.process_value = skip_unset  # type: ignore[method-assign]


ClickException = click_exceptions.ClickException


def report_click_error(exc: click_exceptions.ClickException) -> int:
    """Print a click error as one `error:` line on stderr; return its exit code."""
    if isinstance(exc, click_exceptions.NoArgsIsHelpError):
        # `walletsync wallets` alone: the group's help on stdout, exit 2.
        print(exc.ctx.get_help())
        return exc.exit_code
    # pydantic (typer's value coercion) prefixes validator messages with "Value error, ".
    message = " ".join(exc.format_message().replace("Value error, ", "").split())
    ctx: Any = getattr(exc, "ctx", None)
    usage = isinstance(exc, click_exceptions.UsageError) and ctx is not None
    hint = f" (see `{ctx.command_path} --help`)" if usage else ""
    err_console.print(f"error: {message}{hint}", highlight=False, soft_wrap=True, markup=False)
    return exc.exit_code
