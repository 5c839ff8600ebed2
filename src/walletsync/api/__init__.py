"""The REST API: FastAPI app factory (`app.create_app`), routers per resource, auth, errors, health."""
