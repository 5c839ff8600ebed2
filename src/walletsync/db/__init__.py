"""Database access: schema, engines, migrations and the embedded PostgreSQL."""
