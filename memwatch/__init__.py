"""memwatch: Prometheus monitoring for the databases where AI agents keep their memory."""

# A constant, not importlib.metadata: that import alone costs the exporter ~4 MiB of RSS.
# pyproject.toml reads the package version from here.
__version__ = "0.1.0"
