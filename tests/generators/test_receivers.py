"""The receivers newer Alertmanagers know (issue 14): msteamsv2, jira and rocketchat (0.28),
incidentio (0.29). This machine's amtool (Debian's 0.25) does not know them, so each
rendered config is checked against the upstream configuration's own structure: the YAML
keys of its Go struct and the checks of its UnmarshalYAML, as of the release that added it
(prometheus/alertmanager config/notifiers.go at v0.28.0 and v0.29.0)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from memwatch.errors import SpecError
from memwatch.generators import alertmanager
from memwatch.generators.alertmanager_receivers import MARKDOWN_TEXT
from tests.helpers import spec_from

# the `yaml:"..."` tags of each upstream config struct (NotifierConfig: send_resolved)
UPSTREAM_KEYS: dict[str, set[str]] = {
    "msteamsv2_configs": {"send_resolved", "http_config", "webhook_url", "webhook_url_file",
                          "title", "text"},
    "jira_configs": {"send_resolved", "http_config", "api_url", "project", "summary",
                     "description", "labels", "priority", "issue_type", "reopen_transition",
                     "resolve_transition", "wont_fix_resolution", "reopen_duration",
                     "fields"},
    "rocketchat_configs": {"send_resolved", "http_config", "api_url", "token_id",
                           "token_id_file", "token", "token_file", "channel", "color",
                           "title", "title_link", "text", "fields", "short_fields", "emoji",
                           "icon_url", "image_url", "thumb_url", "link_names", "actions"},
    "incidentio_configs": {"send_resolved", "http_config", "url", "url_file",
                           "alert_source_token", "alert_source_token_file", "max_alerts",
                           "timeout"},
}
# prometheus/common HTTPClientConfig, the parts a receiver here may use
HTTP_KEYS = {"basic_auth": {"username", "username_file", "password", "password_file"},
             "authorization": {"type", "credentials", "credentials_file"}}
INLINE_SECRETS = {"webhook_url", "token", "token_id", "alert_source_token", "password",
                  "credentials", "url_file"}


def upstream_accepts(kind: str, c: dict[str, Any]) -> list[str]:
    """What UnmarshalYAML (and the config's global fallbacks) would refuse."""
    problems = [f"unknown key {k}" for k in set(c) - UPSTREAM_KEYS[kind]]
    for section, keys in c.get("http_config", {}).items():
        problems += [f"http_config.{section}.{k}" for k in set(keys) - HTTP_KEYS[section]]
    if kind == "msteamsv2_configs" and ("webhook_url" in c) == ("webhook_url_file" in c):
        problems.append("exactly one of webhook_url or webhook_url_file")
    if kind == "jira_configs":
        problems += [f"missing {k}" for k in ("project", "issue_type", "api_url")
                     if not c.get(k)]  # api_url: no global jira_api_url is rendered
    if kind == "rocketchat_configs":
        problems += [f"missing {k}" for k in ("token_file", "token_id_file") if k not in c]
    if kind == "incidentio_configs":
        if ("url" in c) == ("url_file" in c):
            problems.append("exactly one of url or url_file")
        if "alert_source_token_file" not in c and "authorization" not in c.get(
                "http_config", {}):
            problems.append("a token or http_config.authorization")
    return problems


SPEC = """\
stores:
  - {name: alpha, preset: files, files: [{name: d, glob: /x/*}]}
routing:
  alertmanager_version: "0.29"
  default_receiver: teams
  receivers:
    - name: teams
      msteamsv2: [{webhook_url_file: /run/secrets/teams_url}]
    - name: jira-cloud
      jira:
        - {api_url: 'https://acme.atlassian.net', project: MEM, issue_type: Bug,
           username: sre@acme.example, password_file: /run/secrets/jira_token,
           priority: High, labels: [memwatch], resolve_transition: Done,
           reopen_transition: Reopen, wont_fix_resolution: "Won't Fix",
           reopen_duration: 1h}
    - name: jira-dc
      jira: [{api_url: 'https://jira.internal', project: MEM, issue_type: Task,
              bearer_token_file: /run/secrets/jira_pat}]
    - name: rocket
      rocketchat: [{token_id_file: /run/secrets/rc_id, token_file: /run/secrets/rc_token,
                    channel: '#memory'}]
    - name: incident
      incidentio: [{url: 'https://api.incident.io/v2/alert_events/http/01ABC',
                    alert_source_token_file: /run/secrets/incidentio_token}]
"""


def rendered() -> dict[str, dict[str, Any]]:
    cfg = alertmanager.config(spec_from(SPEC).routing)
    return {r["name"]: r for r in cfg["receivers"]}


def test_each_new_receiver_has_the_upstream_structure_and_no_inline_secret() -> None:
    by_name = rendered()
    seen = set()
    for name in ("teams", "jira-cloud", "jira-dc", "rocket", "incident"):
        (kind, configs), = ((k, v) for k, v in by_name[name].items() if k != "name")
        seen.add(kind)
        for c in configs:
            assert upstream_accepts(kind, c) == [], (name, c)
            flat = set(c) | {k for v in c.get("http_config", {}).values() for k in v}
            assert not flat & INLINE_SECRETS, (name, flat & INLINE_SECRETS)
    assert seen == set(UPSTREAM_KEYS)
    assert by_name["teams"]["msteamsv2_configs"][0]["webhook_url_file"] == \
        "/run/secrets/teams_url"
    jira = by_name["jira-cloud"]["jira_configs"][0]
    assert jira["http_config"] == {"basic_auth": {
        "username": "sre@acme.example", "password_file": "/run/secrets/jira_token"}}
    assert (jira["priority"], jira["labels"], jira["reopen_duration"]) == (
        "High", ["memwatch"], "1h")
    assert by_name["jira-dc"]["jira_configs"][0]["http_config"] == {"authorization": {
        "type": "Bearer", "credentials_file": "/run/secrets/jira_pat"}}
    assert by_name["rocket"]["rocketchat_configs"][0]["channel"] == "#memory"
    assert by_name["incident"]["incidentio_configs"][0] == {
        "send_resolved": True, "url": "https://api.incident.io/v2/alert_events/http/01ABC",
        "alert_source_token_file": "/run/secrets/incidentio_token", "max_alerts": 0}


def test_the_structure_check_can_fail() -> None:
    assert upstream_accepts("jira_configs", {"project": "M", "issue_typ": "Bug"}) == [
        "unknown key issue_typ", "missing issue_type", "missing api_url"]
    assert upstream_accepts("incidentio_configs", {"url": "u", "url_file": "f"}) == [
        "exactly one of url or url_file", "a token or http_config.authorization"]


@pytest.mark.parametrize(("version", "kind", "since"), [
    ("0.27", "msteamsv2: [{webhook_url_file: /s}]", "0.28"),
    ("0.27", "rocketchat: [{token_id_file: /a, token_file: /b}]", "0.28"),
    ("0.27", "jira: [{api_url: 'https://j', project: P, issue_type: Bug, "
             "bearer_token_file: /t}]", "0.28"),
    ("0.28", "incidentio: [{url: 'https://i', alert_source_token_file: /t}]", "0.29"),
    ("0.25", "telegram: [{bot_token_file: /t, chat_id: 1}]", "0.26"),
])
def test_a_receiver_newer_than_the_alertmanager_is_refused(version: str, kind: str,
                                                           since: str) -> None:
    with pytest.raises(SpecError) as err:
        spec_from("stores:\n  - {name: a, preset: files, files: [{name: d, glob: /x/*}]}\n"
                  f"routing:\n  alertmanager_version: '{version}'\n  default_receiver: r\n"
                  f"  receivers:\n    - name: r\n      {kind}\n")
    name = kind.split(":")[0]
    assert f"routing.receivers[0].{name}: needs alertmanager_version {since} or newer" in \
        err.value.problems[0]


@pytest.mark.parametrize(("auth", "words"), [
    ("username: u", "basic auth needs both username and password_file"),
    ("password_file: /p, bearer_token_file: /t", "give username and password_file, or"),
    ("", "give username and password_file, or bearer_token_file"),
])
def test_jira_needs_one_way_to_authenticate(auth: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        spec_from(SPEC.replace("bearer_token_file: /run/secrets/jira_pat", auth))
    assert words in " ".join(err.value.problems)


def test_this_machines_amtool_knows_none_of_them(tmp_path: Path) -> None:
    """Why the structure above is the check: amtool 0.25 refuses msteamsv2_configs, while
    the same config without the new kinds passes it (the rest is amtool-checked)."""
    amtool = shutil.which("amtool")
    if amtool is None:
        reason = "amtool not found (Debian package prometheus-alertmanager)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    version = subprocess.run([amtool, "--version"], capture_output=True, text=True)
    if "version 0.2" in version.stdout + version.stderr and \
            "version 0.28" not in version.stdout + version.stderr:
        cfg = alertmanager.config(spec_from(SPEC).routing)
        path = tmp_path / "am.yml"
        path.write_text(yaml.safe_dump(cfg))
        refused = subprocess.run([amtool, "check-config", str(path)], capture_output=True,
                                 text=True)
        assert refused.returncode != 0 and "msteamsv2_configs" in refused.stdout + \
            refused.stderr
        older = spec_from(SPEC.split("  receivers:")[0].replace("default_receiver: teams",
                                                                "default_receiver: "
                                                                "consolidator"))
        path.write_text(yaml.safe_dump(alertmanager.config(older.routing)))
        ok = subprocess.run([amtool, "check-config", str(path)], capture_output=True,
                            text=True)
        assert ok.returncode == 0, ok.stdout + ok.stderr


def test_the_markdown_text_template_parses(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        reason = "amtool not found (Debian package prometheus-alertmanager)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    empty = tmp_path / "empty.tmpl"
    empty.write_text("")
    proc = subprocess.run([amtool, "template", "render", f"--template.glob={empty}",
                           f"--template.text={MARKDOWN_TEXT}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_consolidator_peers_are_webhooks_of_the_consolidator_receiver() -> None:
    spec = spec_from("""\
stores:
  - {name: a, preset: files, files: [{name: d, glob: /x/*}]}
routing:
  consolidator_url: http://c1:9188/webhook/alerts
  consolidator_peers: ['http://c2:9188/webhook/alerts']
  consolidator_bearer_token_file: /run/secrets/token
""")
    cons = next(r for r in alertmanager.config(spec.routing)["receivers"]
                if r["name"] == "consolidator")
    auth = {"authorization": {"type": "Bearer", "credentials_file": "/run/secrets/token"}}
    assert cons["webhook_configs"] == [
        {"send_resolved": True, "url": f"http://{h}:9188/webhook/alerts", "max_alerts": 0,
         "http_config": auth} for h in ("c1", "c2")]
    with pytest.raises(SpecError) as err:
        spec_from("stores:\n  - {name: a, preset: files, files: [{name: d, glob: /x/*}]}\n"
                  "routing:\n  consolidator_url: null\n  default_receiver: r\n"
                  "  consolidator_peers: ['http://c2/x']\n  receivers: [{name: r}]\n")
    assert "consolidator_peers: needs consolidator_url" in err.value.problems[0]
