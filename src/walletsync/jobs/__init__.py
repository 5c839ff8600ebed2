"""Durable jobs on PostgreSQL (Procrastinate): the app, its tasks, schedules, and job queries."""
