"""memwatch: Prometheus monitoring for the databases where AI agents keep their memory."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("memwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
