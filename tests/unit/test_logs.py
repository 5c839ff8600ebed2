"""Logs: console lines on a terminal, JSON lines otherwise, always on stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import clean_env


def _first_stderr_line(*, tty: bool, tmp_path: Path) -> tuple[str, str]:
    """Run a command that logs, return (first stderr line, all of stdout) with stderr a pty or a pipe."""
    code = (
        "from walletsync.cli.common import load\n"
        "import structlog\n"
        "load(interactive=False)\n"
        "structlog.get_logger('t').info('probe.event', n=1)\n"
        "print('command output')\n"
    )
    env = clean_env(WALLETSYNC_DATA_DIR=str(tmp_path))
    if not tty:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stderr.splitlines()[0], done.stdout
    leader, follower = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
            check=True,
        )
        os.close(follower)
        follower = -1
        err = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    return err.decode().splitlines()[0], done.stdout


def test_json_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    line, out = _first_stderr_line(tty=False, tmp_path=tmp_path)
    event = json.loads(line)
    assert event["event"] == "probe.event"
    assert event["n"] == 1
    assert out == "command output\n"  # logs never mix into stdout


def test_console_lines_when_stderr_is_a_terminal(tmp_path: Path) -> None:
    line, out = _first_stderr_line(tty=True, tmp_path=tmp_path)
    assert not line.lstrip().startswith("{")
    assert "probe.event" in line
    assert "n=1" in re.sub(r"\x1b\[[0-9;]*m", "", line)  # without the colours
    assert out == "command output\n"
