"""API hardening: `provider_endpoints.url` holds an endpoint's display name, never its URL.

Rows written before this revision hold the URL without user info and query, which still carries a key
when the key is in the path (`https://host/v2/<key>`). Each is rewritten in place to
`host[:port]#<first 6 hex of SHA-256 of that URL>`, the name `providers.endpoints.display_name` gives the
configured URL when it had no query or user info, so such an endpoint keeps its row, breaker and
operator-set `weight`. A row whose URL had a query gets a name no client uses any more: harmless (no
secret in it; `expire_stale_breakers` closes it) and the operator may delete it.

Downgrade keeps the names: URLs cannot be recovered from them, and the older code writes its own rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_endpoints = sa.table("provider_endpoints", sa.column("url", sa.Text))


def upgrade() -> None:
    url = _endpoints.c.url
    digest = sa.func.encode(sa.func.sha256(sa.func.convert_to(url, "UTF8")), "hex")
    name = sa.func.substring(url, "://([^/]+)") + "#" + sa.func.left(digest, 6)
    op.execute(sa.update(_endpoints).where(url.contains("://")).values(url=name))


def downgrade() -> None:
    pass
