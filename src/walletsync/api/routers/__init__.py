"""One router module per resource; `walletsync.api.app.ROUTERS` registers them."""
