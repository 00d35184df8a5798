"""The consolidator's storage: the interface (base), its SQLite, PostgreSQL and MongoDB
implementations, and the registry that opens the one a spec names."""
