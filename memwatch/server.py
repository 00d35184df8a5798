"""The exporter's HTTP listener: /metrics (text or OpenMetrics by negotiation, as
prometheus_client serves it), /health, and a landing page; optional TLS and basic auth."""

from __future__ import annotations

import errno
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from memwatch import __version__, heap
from memwatch.spec.types import parse_listen
from memwatch.webconfig import BasicAuth, WebConfig

log = logging.getLogger("memwatch.server")

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

LANDING = """<!doctype html><html><head><title>memwatch exporter</title></head>
<body><h1>memwatch exporter {version}</h1><p>Stores: {stores}</p>
<p><a href="/metrics">Metrics</a> · <a href="/health">Health</a></p></body></html>"""


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)


def make_app(registry: CollectorRegistry, stores: Callable[[], list[str]], web: WebConfig,
             only: Callable[[list[str]], CollectorRegistry] | None = None,
             reload: Callable[[], list[str]] | None = None) -> Any:
    """The WSGI app. `stores()`: the names served now (a reload changes them);
    `only(names)`: a registry of just those stores, for `/probe` and `/metrics?store=NAME`
    (multi-target probing); `reload()`: `POST /-/reload`, when the lifecycle API is on."""
    metrics_app = make_wsgi_app(registry)
    auth = BasicAuth(web.basic_auth_users) if web.basic_auth_users else None
    extra_headers = list(web.http_server_config.headers.items())

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        def respond(status: str, headers: list[tuple[str, str]],
                    exc_info: Any = None) -> Any:
            return start_response(status, headers + extra_headers, exc_info)

        if auth is not None and not auth.check(environ.get("HTTP_AUTHORIZATION")):
            respond("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="memwatch"'),
                                         ("Content-Type", "text/plain")])
            return [b"Unauthorized\n"]
        path = environ.get("PATH_INFO", "/")
        if path in ("/metrics", "/probe"):
            return _metrics(environ, respond, path, metrics_app, stores(), only)
        if path == "/-/reload":
            return _reload(environ, respond, reload)
        if path == "/health":
            respond("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"status": "ok", "version": __version__}).encode()]
        if path == "/":
            respond("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [LANDING.format(version=__version__, stores=", ".join(stores())).encode()]
        return _plain(respond, "404 Not Found", "Not found: try /metrics")

    return app


def _reload(environ: Environ, respond: StartResponse,
            reload: Callable[[], list[str]] | None) -> list[bytes]:
    """As Prometheus does it: PUT or POST, and only with --web.enable-lifecycle."""
    if reload is None:
        return _plain(respond, "403 Forbidden", "Lifecycle API is not enabled "
                                                "(--web.enable-lifecycle).")
    if environ.get("REQUEST_METHOD") not in ("POST", "PUT"):
        respond("405 Method Not Allowed", [("Allow", "POST, PUT"),
                                           ("Content-Type", "text/plain; charset=utf-8")])
        return [b"POST or PUT to reload\n"]
    problems = reload()
    if problems:
        return _plain(respond, "500 Internal Server Error",
                      "failed to reload the spec; the running one stays:\n"
                      + "\n".join(problems))
    return _plain(respond, "200 OK", "reloaded")


def _plain(respond: StartResponse, status: str, text: str) -> list[bytes]:
    respond(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [f"{text}\n".encode()]


def _metrics(environ: Environ, respond: StartResponse, path: str, metrics_app: Any,
             stores: list[str], only: Callable[[list[str]], CollectorRegistry] | None
             ) -> Iterable[bytes]:
    """/metrics (every store, or those of `?store=`) and /probe (`?store=` required). A
    store must be one of the spec's by name: never a DSN, URL or path, and a value that is
    not a store is not echoed (it may be one, with its password)."""
    asked = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""),
                                  keep_blank_values=True).get("store", [])
    if not asked:
        if path == "/probe":
            return _plain(respond, "400 Bad Request",
                          "/probe needs ?store=NAME, NAME a store of this exporter")
        app = metrics_app
    else:
        if only is None or not set(asked) <= set(stores):
            return _plain(respond, "400 Bad Request",
                          "store: not a store of this exporter; the names it serves are "
                          "on its landing page (/). A store is named, never given by DSN, "
                          "URL or path.")
        app = make_wsgi_app(only(asked))
    body: Iterable[bytes] = app(environ, respond)  # rendered in full
    heap.trim()  # what the scrape freed, back to the OS
    return body


# accept() errors that a moment may cure: out of file descriptors or kernel memory
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_RETRY_FIRST, ACCEPT_RETRY_MAX = 0.005, 1.0  # seconds, as Go's net/http


class _Server(ThreadingWSGIServer):
    # socketserver's default listen backlog is 5: 500 concurrent scrapes waited on SYN
    # retries (p99 7.7 s, some 60 s); the kernel caps this at net.core.somaxconn
    request_queue_size = 1024
    _accept_delay = 0.0

    def get_request(self) -> tuple[socket.socket, Any]:
        """accept(), backing off while it fails for want of resources: the listening
        socket stays readable then, and socketserver's loop retried at once, spinning a
        core at 99% until connections closed (EMFILE under `prlimit --nofile`). 5 ms
        doubling to 1 s, as Go's net/http does; a success resets it."""
        try:
            accepted = super().get_request()
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                self._back_off(exc)
            raise
        self._accept_delay = 0.0
        return accepted

    def _back_off(self, exc: OSError) -> None:
        first = self._accept_delay == 0.0
        self._accept_delay = min(ACCEPT_RETRY_MAX, max(ACCEPT_RETRY_FIRST,
                                                       2 * self._accept_delay))
        (log.warning if first else log.debug)(
            "accept failed: out of file descriptors or memory; retrying",
            extra={"error": exc.strerror, "retry_seconds": self._accept_delay})
        time.sleep(self._accept_delay)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up or speaks plain HTTP to the TLS port: a log line, not a
        # traceback printed on stderr between the structured log lines.
        log.debug("http connection error", extra={"client": client_address[0]},
                  exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


def serve(app: Any, listen: str, web: WebConfig) -> WSGIServer:
    """Bind and return the server; the caller runs serve_forever() and shutdown()."""
    host, port = parse_listen(listen)
    cls = _Server6 if ":" in host else _Server
    httpd = make_server(host, port, app, cls, handler_class=_QuietHandler)
    ctx = web.ssl_context()
    if ctx is not None:
        # The handshake runs in the connection's own thread (on its first read), not in
        # accept(): a client that connects and stays silent must not stall the listener.
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True,
                                       do_handshake_on_connect=False)
    return httpd


def serve_in_thread(httpd: WSGIServer) -> threading.Thread:
    t = threading.Thread(target=httpd.serve_forever, name="http", daemon=True)
    t.start()
    return t
