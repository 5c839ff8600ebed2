"""What `walletsync version` and `walletsync --help` import, pinned so start-up cannot silently regress.

Run in a fresh interpreter (a subprocess): the modules loaded by the command are read from
`sys.modules` after it ran. Not a timing test: a new top-level import of SQLAlchemy, FastAPI, the
simulator or the settings in a command module shows up here as a changed list, whatever the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

RUN = """
import json, sys
sys.argv = ["walletsync", *sys.argv[1:]]
from walletsync.cli import main
try:
    main()
except SystemExit:
    pass
sys.stdout.write("\\n" + json.dumps(sorted(sys.modules)) + "\\n")
"""

# Interpreter and packaging hooks that vary by installation, not by our code.
ENVIRONMENT = {"__main__", "_distutils_hack", "sitecustomize", "usercustomize", "_virtualenv"}

VERSION_WALLETSYNC = [
    "walletsync",
    "walletsync.chain",
    "walletsync.cli",
    "walletsync.cli.apikeys",
    "walletsync.cli.common",
    "walletsync.cli.db",
    "walletsync.cli.info",
    "walletsync.cli.jobs",
    "walletsync.cli.prices",
    "walletsync.cli.serve",
    "walletsync.cli.text",  # escapes user text for the terminal (re + rich.text, both loaded anyway)
    "walletsync.cli.usage",
    "walletsync.cli.wallets",
    "walletsync.cli.webhooks",
    "walletsync.errors",
    "walletsync.signals",
]
# typer and rich (the command line itself). Not pydantic: typer coerces option values through pydantic
# TypeAdapters, built on first use, and `cli.usage.patch_typer_coercion` skips them for unset
# parameters (every command's `--help`): 70-120 ms of `walletsync version` before it.
VERSION_THIRD_PARTY = [
    "annotated_doc",
    "rich",
    "shellingham",
    "typer",
]
# Never on the path of a command that answers at once.
HEAVY = {
    "alembic",
    "asyncpg",
    "cashews",
    "fastapi",
    "httpx",
    "orjson",
    "platformdirs",
    "procrastinate",
    "prometheus_client",
    "psycopg",
    "pydantic_settings",
    "redis",
    "sqlalchemy",
    "starlette",
    "structlog",
    "uvicorn",
}


def _modules(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def _third_party(modules: list[str]) -> list[str]:
    tops = {name.split(".")[0] for name in modules}
    return sorted(
        top
        for top in tops - set(sys.stdlib_module_names) - ENVIRONMENT
        if top != "walletsync" and not top.startswith("_sysconfigdata")
    )


def test_version_imports_only_the_command_line() -> None:
    modules = _modules("version")
    assert [m for m in modules if m.split(".")[0] == "walletsync"] == VERSION_WALLETSYNC
    assert _third_party(modules) == VERSION_THIRD_PARTY
    assert "asyncio" not in modules  # no event loop to start: its import alone was a visible cost
    assert "pydantic" not in modules


def test_help_imports_no_database_web_or_settings_stack() -> None:
    modules = _modules("--help")
    assert [m for m in modules if m.split(".")[0] == "walletsync"] == VERSION_WALLETSYNC
    assert HEAVY.isdisjoint(_third_party(modules))
    assert "walletsync.simulator" not in modules
    # Plain click help: typer's rich help (markdown-it, rich.markdown, rich.table) was half its time.
    assert {"typer.rich_utils", "rich.markdown", "markdown_it"}.isdisjoint(modules)
