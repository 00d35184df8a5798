"""Per-backend collectors. Backends are imported lazily: a spec with only SQLite stores
never imports psycopg or pymongo."""
