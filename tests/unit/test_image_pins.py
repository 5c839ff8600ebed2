"""Every container image in deploy/ is pinned to a version: a rebuild months later pulls the same software.

`latest`, a bare major (`redis:7-alpine`) or no tag at all move under you; a tag with a full version
(`redis:7.4.1-alpine`, `v1.25.1-p0`, `2.17.2-pg16`) does not, short of a re-push, which an optional
`@sha256:<digest>` rules out as well. Our own image (`walletsync:local`, built by compose) is exempt.
"""

from __future__ import annotations

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OWN_IMAGES = {"walletsync:local"}
# name:tag where the tag carries a full major.minor.patch version; optional digest.
_PINNED = re.compile(r"^[a-z0-9./_-]+:v?\d+\.\d+\.\d+[A-Za-z0-9._-]*(@sha256:[0-9a-f]{64})?$")


def _images() -> list[tuple[str, str]]:
    found = []
    for path in sorted(DEPLOY.rglob("*")):
        if not path.is_file() or (path.suffix not in {".yml", ".yaml", ""} and "Dockerfile" not in path.name):
            continue
        for line in path.read_text(errors="replace").splitlines():
            if (match := re.match(r"^\s*image:\s*['\"]?([^'\"\s#]+)", line)) or (
                "Dockerfile" in path.name and (match := re.match(r"^FROM\s+(\S+)", line))
            ):
                found.append((path.name, match.group(1)))
    return found


def unpinned(images: list[tuple[str, str]]) -> list[str]:
    return [
        f"{file}: {image}" for file, image in images if image not in OWN_IMAGES and not _PINNED.match(image)
    ]


def test_every_deploy_image_is_pinned_to_a_version() -> None:
    images = _images()
    assert len(images) >= 7  # compose services and both Dockerfile stages were found
    assert unpinned(images) == []


def test_the_rule_rejects_moving_tags() -> None:
    moving = [
        "redis:7-alpine",
        "edoburu/pgbouncer:latest",
        "timescale/timescaledb:latest-pg16",
        "python:3.11-slim",
        "postgres",
    ]
    fixed = [
        "redis:7.4.1-alpine",
        "edoburu/pgbouncer:v1.25.1-p0",
        "python:3.11.11-slim-bookworm",
        "redis:7.4.1-alpine@sha256:" + "a" * 64,
    ]
    assert unpinned([("f", image) for image in moving]) == [f"f: {image}" for image in moving]
    assert unpinned([("f", image) for image in fixed]) == []
