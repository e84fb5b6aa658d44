"""The gateway's durable store: SQLAlchemy 2 over SQLite or PostgreSQL, plus blobs on disk.

Store functions take an `AsyncSession` and never commit: the caller owns the
transaction (architecture.md, house style 6).
"""
