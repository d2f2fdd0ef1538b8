"""Persistence: SQLAlchemy models and queries. Knows nothing of HTTP; never commits (the caller does)."""
