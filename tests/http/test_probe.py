"""Multi-target probing by store name (issue 14): `/probe?store=NAME` and
`/metrics?store=NAME` answer only that store; anything that is not a store of the spec is a
400 that echoes nothing; gen-monitoring's probe job, scraped by a real Prometheus."""

from __future__ import annotations

import base64
import shutil
import urllib.parse
from pathlib import Path

import pytest
import yaml

from memwatch.demo.stack import Process, free_port, http_json, wait_for
from memwatch.generators import prometheus
from memwatch.generators.model import Model
from memwatch.webconfig import WebConfig
from tests.helpers import get, spec_from
from tests.http.support import Store, parse, sample, served

SECRET = "S3cretPW"


def three(store: Store, tmp_path: Path) -> str:
    return store.spec() + (
        "  - name: backups\n    preset: files\n"
        f"    files: [{{name: dumps, glob: '{tmp_path}/*.dump'}}]\n"
        "  - name: gone\n    preset: openclaw-mem\n"
        f"    path: '{tmp_path / 'missing.sqlite'}'\n    spool: null\n")


def stores_in(body: str) -> set[str]:
    return {labels["store"] for (name, labels_set) in parse(body)
            for labels in [dict(labels_set)] if name == "memwatch_up"}


def test_probe_and_metrics_answer_only_the_store_named(store: Store, tmp_path: Path) -> None:
    with served(three(store, tmp_path)) as url:
        status, headers, body = get(url + "/probe?store=oc")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert stores_in(body) == {"oc"}
        assert sample(parse(body), "memwatch_store_memories", store="oc") == store.active
        assert "backups" not in body and "gone" not in body
        status, _, body = get(url + "/metrics?store=gone")
        assert status == 200 and stores_in(body) == {"gone"}
        assert sample(parse(body), "memwatch_up", store="gone", backend="sqlite") == 0
        status, _, body = get(url + "/probe?store=oc&store=backups")
        assert status == 200 and stores_in(body) == {"oc", "backups"}
        assert stores_in(get(url + "/metrics")[2]) == {"oc", "backups", "gone"}
        # a probe counts as a scrape of that store only: its error counter moved, no other
        errors = parse(get(url + "/metrics")[2])
        assert sample(errors, "memwatch_collection_errors_total", store="gone",
                      reason="missing") == 3  # /metrics?store=gone, then the two /metrics


@pytest.mark.parametrize("query", [
    f"store=postgresql://monitor:{SECRET}@db:5432/mem0",
    f"store=mongodb://u:{SECRET}@h/x", f"store=/home/agent/{SECRET}.sqlite",
    "store=OC", "store=oc&store=nope", "store=", "stores=oc",
])
@pytest.mark.parametrize("path", ["/probe", "/metrics"])
def test_anything_but_a_store_name_is_400_and_echoes_nothing(
        store: Store, tmp_path: Path, path: str, query: str) -> None:
    with served(three(store, tmp_path)) as url:
        status, headers, body = get(f"{url}{path}?{urllib.parse.quote(query, safe='=&')}")
    if path == "/metrics" and query == "stores=oc":  # no store asked: every store
        assert status == 200
        return
    assert status == 400, body
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert SECRET not in body and "postgresql://" not in body and "mongodb://" not in body
    assert "memwatch_up" not in body
    if query.startswith("store=") and path == "/probe" and query != "store=":
        assert body == ("store: not a store of this exporter; the names it serves are on "
                        "its landing page (/). A store is named, never given by DSN, URL "
                        "or path.\n")


def test_probe_needs_a_store_and_basic_auth_still_applies(store: Store, tmp_path: Path,
                                                          ) -> None:
    import bcrypt

    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    web = WebConfig.model_validate({"basic_auth_users": {"prom": hashed}})
    with served(three(store, tmp_path), web) as url:
        assert get(url + "/probe?store=oc")[0] == 401
        auth = {"Authorization": "Basic " + base64.b64encode(b"prom:pw").decode()}
        status, _, body = get(url + "/probe", auth)
        assert (status, body) == (400, "/probe needs ?store=NAME, NAME a store of this "
                                       "exporter\n")
        assert get(url + "/probe?store=oc", auth)[0] == 200


def test_the_rendered_probe_job(store: Store, tmp_path: Path) -> None:
    spec = spec_from(three(store, tmp_path).replace("    spool: null\n", "    spool: null\n"
                                                    "    timeout: 20s\n") + """
prometheus:
  scrape_interval: 30s
  exporters:
    - {job: memwatch, targets: ['exporter:9187'], probe: true}
""")
    assert prometheus.scrape_configs(Model.of(spec)) == [{
        "job_name": "memwatch", "metrics_path": "/probe",
        "static_configs": [{"targets": ["oc", "backups"]},
                           {"targets": ["gone"], "labels": {"__scrape_timeout__": "21s"}}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_store"},
            {"source_labels": ["__param_store"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": "exporter:9187"}]}]


@pytest.mark.parametrize(("exporters", "words"), [
    ("[{job: m, probe: true, stores: [nope]}]", "prometheus.exporters[0].stores: no store "
                                                "named nope in the spec"),
    ("[{job: m, stores: [oc]}]", "stores: only with probe: true"),
    ("[{job: m, probe: true, targets: [a:1, b:2]}]", "probe: true needs one target"),
])
def test_probe_job_errors(exporters: str, words: str) -> None:
    from memwatch.errors import SpecError

    with pytest.raises(SpecError) as err:
        spec_from("stores:\n  - {name: oc, preset: files, files: [{name: d, glob: /x/*}]}\n"
                  f"prometheus:\n  exporters: {exporters}\n")
    assert words in err.value.problems[0]


def test_a_real_prometheus_scrapes_each_store_on_its_own(store: Store, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        reason = "prometheus not found (Debian package `prometheus`; scripts/bootstrap.sh)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    with served(three(store, tmp_path)) as url:
        exporter = url.removeprefix("http://")
        spec = spec_from(three(store, tmp_path) + f"""
prometheus:
  scrape_interval: 1s
  evaluation_interval: 1s
  alertmanagers: []
  exporters:
    - {{job: memwatch, targets: ['{exporter}'], probe: true, stores: [oc, gone]}}
""")
        config = prometheus.config(Model.of(spec))
        config.pop("rule_files")  # the scrape is what is under test
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        proc = Process("prometheus", [
            binary, f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}"], tmp_path / "prometheus.log")
        proc.start()
        try:
            def query(expr: str) -> list[dict[str, object]]:
                q = urllib.parse.urlencode({"query": expr})
                return list(http_json(f"http://127.0.0.1:{port}/api/v1/query?{q}")
                            ["data"]["result"])

            ups = wait_for("both probes scraped", lambda: (
                r if len(r := query('up{job="memwatch"}')) == 2 else None), 60)
            got = wait_for("memwatch_up of both", lambda: (
                r if len(r := query("memwatch_up")) == 2 else None), 60)
        finally:
            proc.stop()
    assert {u["metric"]["instance"]: u["value"][1] for u in ups} == {  # type: ignore[index]
        "oc": "1", "gone": "1"}  # the scrape of a store that fails still succeeds
    assert {(g["metric"]["instance"], g["metric"]["store"], g["value"][1])  # type: ignore[index]
            for g in got} == {("oc", "oc", "1"), ("gone", "gone", "0")}
