"""Shared test helpers: build an exporter from spec text, scrape it, serve it on a port."""

from __future__ import annotations

import contextlib
import textwrap
import urllib.request
from collections.abc import Iterator

from memwatch.exporter import Exporter, build_exporter
from memwatch.server import serve, serve_in_thread
from memwatch.spec import Spec, parse_spec
from memwatch.webconfig import WebConfig


def spec_from(text: str) -> Spec:
    return parse_spec(textwrap.dedent(text), "test-spec")


@contextlib.contextmanager
def exporter_for(text: str) -> Iterator[Exporter]:
    """An exporter (no HTTP) for spec text; closed afterwards."""
    exp = build_exporter(spec_from(text))
    try:
        yield exp
    finally:
        exp.close()


def value(exp: Exporter, name: str, **labels: str) -> float | None:
    """One sample's value from a fresh scrape (the client_python test idiom)."""
    return exp.registry.get_sample_value(name, labels)


def samples(exp: Exporter, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of a family from one scrape, keyed by sorted labels."""
    out = {}
    for fam in exp.registry.collect():
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


@contextlib.contextmanager
def serving(exp: Exporter, web: WebConfig | None = None) -> Iterator[str]:
    """Serve the exporter on a free 127.0.0.1 port; yields the base URL."""
    web = web or WebConfig()
    httpd = serve(exp.app, "127.0.0.1:0", web)
    serve_in_thread(httpd)
    scheme = "https" if web.tls_server_config else "http"
    try:
        yield f"{scheme}://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[
        int, dict[str, str], str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


class Scrape:
    """Every sample of one scrape, so several values can be read from the same collection
    (each `value()` call is a scrape of its own)."""

    def __init__(self, exp: Exporter) -> None:
        self.data: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for fam in exp.registry.collect():
            for s in fam.samples:
                self.data[(s.name, frozenset(s.labels.items()))] = s.value

    def __call__(self, name: str, **labels: str) -> float | None:
        return self.data.get((name, frozenset(labels.items())))


def run_integrity(exp: Exporter) -> None:
    """Run every store's integrity pass now and wait for it: the next scrape serves it."""
    for runner in exp.collector.runners:
        if runner.integrity is not None:
            runner.integrity.run_now()


def assert_features(exp: Exporter, store_name: str) -> None:
    """The store's declared features (its spec class's `capabilities()`) are exactly the
    feature series its backend exported on a scrape: each promised family is there, and no
    family of an undeclared feature is. Call it on a store whose data has everything its
    preset can show (timestamps, embeddings, a spool...)."""
    from memwatch.capabilities import FEATURE_METRICS

    store = next(r for r in exp.collector.runners if r.name == store_name).store
    caps = store.capabilities()
    run_integrity(exp)
    exported = {name for fam in exp.registry.collect() for s in fam.samples
                for name in [s.name] if s.labels.get("store") == store_name}
    for feature, metrics in FEATURE_METRICS.items():
        names = {m.series_name for m in metrics}
        if feature in caps.features:
            assert names <= exported, f"{store.preset} declares {feature}; missing " \
                                      f"{sorted(names - exported)}"
        else:
            assert not names & exported, f"{store.preset} exports {sorted(names & exported)} " \
                                         f"but does not declare {feature}"
