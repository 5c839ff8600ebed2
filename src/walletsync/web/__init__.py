"""The dashboard and market terminal: server-rendered pages under `/web/`, files under `/static/`.

It reads through `portfolio/`, `market/`, `wallets/`, `indexing/` and `jobs/` like the REST routers
and never calls a provider. Modules: `sessions` (the session and link tables), `auth` (cookie, scope,
CSRF), `signin` (sign-in and out), `pages` (full pages), `partials` (htmx fragments and actions),
`data` (same-origin JSON for the charts), `render` (templates, CSP, formatting), `static` (files).

Only `install_dashboard` and `create_signin_link` are meant for the rest of walletsync, and the event
stream's use of the session (`auth.SESSION_COOKIE`, `sessions.load_session`): the dashboard's
`EventSource` authenticates with its cookie.
"""

from __future__ import annotations

from walletsync.web.app import create_signin_link, install_dashboard

__all__ = ["create_signin_link", "install_dashboard"]
