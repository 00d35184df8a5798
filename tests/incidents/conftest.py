"""The incidents replay on the session's real servers (tests/conftest.py: PostgreSQL 16 +
pgvector, the MongoDB-wire server, an OpenClaw memory index)."""
