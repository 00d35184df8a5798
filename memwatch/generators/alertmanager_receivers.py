"""Alertmanager receivers from the spec: every secret is a `*_file` reference, never a value.

Slack `api_url_file`, email `auth_password_file`, PagerDuty `routing_key_file`, Telegram
`bot_token_file` (Alertmanager 0.26+), Microsoft Teams `webhook_url_file` (msteamsv2,
0.28+), Jira `http_config` basic auth `password_file` or `credentials_file` (0.28+),
Rocket.Chat `token_file` and `token_id_file` (0.28+), incident.io
`alert_source_token_file` (0.29+), and webhooks authenticated with
`http_config.authorization.credentials_file` (a bearer token read from a file; the webhook
URL itself is an internal address, not a secret). The spec refuses a kind the configured
`routing.alertmanager_version` does not know (`RECEIVER_SINCE`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memwatch.generators.output import go_duration
from memwatch.spec.monitoring import (
    CONSOLIDATOR,
    EmailReceiver,
    IncidentioReceiver,
    JiraReceiver,
    MSTeamsV2Receiver,
    PagerDutyReceiver,
    Receiver,
    RocketchatReceiver,
    RoutingSection,
    SlackReceiver,
    TelegramReceiver,
    WebhookReceiver,
)

# Alerts in a group may differ in severity (RAM tiers share an alertname): say so.
SLACK_TITLE = ('[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}'
               '{{ end }}] {{ .CommonLabels.alertname }}'
               '{{ with .CommonLabels.store }} ({{ . }}){{ end }}')
SLACK_TEXT = ('{{ range .Alerts }}*{{ .Labels.severity }}* {{ .Annotations.summary }}\n'
              '{{ .Annotations.description }}\n'
              '{{ with .Annotations.runbook_url }}<{{ . }}|runbook>{{ end }}\n'
              '{{ end }}')
# Markdown (Teams, Rocket.Chat, Jira's description): the runbook as a link of its own.
MARKDOWN_TEXT = ('{{ range .Alerts }}**{{ .Labels.severity }}** {{ .Annotations.summary }}\n\n'
                 '{{ .Annotations.description }}'
                 '{{ with .Annotations.runbook_url }} [runbook]({{ . }}){{ end }}\n\n'
                 '{{ end }}')
PAGERDUTY_SEVERITY = ('{{ if .CommonLabels.severity }}{{ .CommonLabels.severity }}'
                      '{{ else }}error{{ end }}')


def _bearer(token_file: Path | None) -> dict[str, Any]:
    if token_file is None:
        return {}
    return {"http_config": {"authorization": {"type": "Bearer",
                                              "credentials_file": str(token_file)}}}


def _chat(out: dict[str, Any], channel: str | None, text: str) -> dict[str, Any]:
    """A chat message: the channel when one is named, the title and the text."""
    if channel is not None:
        out["channel"] = channel
    return {**out, "title": SLACK_TITLE, "text": text}


def slack(c: SlackReceiver) -> dict[str, Any]:
    return _chat({"send_resolved": c.send_resolved, "api_url_file": str(c.api_url_file)},
                 c.channel, SLACK_TEXT)


def email(c: EmailReceiver) -> dict[str, Any]:
    out: dict[str, Any] = {"send_resolved": c.send_resolved, "to": c.to, "from": c.from_,
                           "smarthost": c.smarthost}
    if c.auth_username is not None:
        out["auth_username"] = c.auth_username
    if c.auth_password_file is not None:
        out["auth_password_file"] = str(c.auth_password_file)
    out["require_tls"] = c.require_tls
    return out


def telegram(c: TelegramReceiver) -> dict[str, Any]:
    return {"send_resolved": c.send_resolved, "bot_token_file": str(c.bot_token_file),
            "chat_id": c.chat_id}


def webhook(c: WebhookReceiver) -> dict[str, Any]:
    return {"send_resolved": c.send_resolved, "url": c.url, "max_alerts": c.max_alerts,
            **_bearer(c.bearer_token_file)}


def pagerduty(c: PagerDutyReceiver) -> dict[str, Any]:
    return {"send_resolved": c.send_resolved, "routing_key_file": str(c.routing_key_file),
            "severity": PAGERDUTY_SEVERITY}


def msteamsv2(c: MSTeamsV2Receiver) -> dict[str, Any]:
    return {"send_resolved": c.send_resolved, "webhook_url_file": str(c.webhook_url_file),
            "title": SLACK_TITLE, "text": MARKDOWN_TEXT}


def jira(c: JiraReceiver) -> dict[str, Any]:
    auth: dict[str, Any] = (
        {"basic_auth": {"username": c.username, "password_file": str(c.password_file)}}
        if c.password_file is not None else
        {"authorization": {"type": "Bearer", "credentials_file": str(c.bearer_token_file)}})
    out: dict[str, Any] = {"send_resolved": c.send_resolved, "http_config": auth,
                           "api_url": c.api_url, "project": c.project,
                           "issue_type": c.issue_type, "summary": SLACK_TITLE,
                           "description": MARKDOWN_TEXT}
    optional = {"priority": c.priority, "resolve_transition": c.resolve_transition,
                "reopen_transition": c.reopen_transition,
                "wont_fix_resolution": c.wont_fix_resolution,
                "reopen_duration": None if c.reopen_duration is None
                else go_duration(c.reopen_duration)}
    out.update((k, v) for k, v in optional.items() if v is not None)
    if c.labels:
        out["labels"] = list(c.labels)
    return out


def rocketchat(c: RocketchatReceiver) -> dict[str, Any]:
    out: dict[str, Any] = {"send_resolved": c.send_resolved,
                           "token_id_file": str(c.token_id_file),
                           "token_file": str(c.token_file)}
    if c.api_url is not None:
        out["api_url"] = c.api_url
    return _chat(out, c.channel, MARKDOWN_TEXT)


def incidentio(c: IncidentioReceiver) -> dict[str, Any]:
    return {"send_resolved": c.send_resolved, "url": c.url,
            "alert_source_token_file": str(c.alert_source_token_file),
            "max_alerts": c.max_alerts}


def receiver(r: Receiver) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.name}
    kinds: tuple[tuple[str, list[dict[str, Any]]], ...] = (
        ("slack_configs", [slack(c) for c in r.slack]),
        ("email_configs", [email(c) for c in r.email]),
        ("telegram_configs", [telegram(c) for c in r.telegram]),
        ("webhook_configs", [webhook(c) for c in r.webhook]),
        ("pagerduty_configs", [pagerduty(c) for c in r.pagerduty]),
        ("msteamsv2_configs", [msteamsv2(c) for c in r.msteamsv2]),
        ("jira_configs", [jira(c) for c in r.jira]),
        ("rocketchat_configs", [rocketchat(c) for c in r.rocketchat]),
        ("incidentio_configs", [incidentio(c) for c in r.incidentio]),
    )
    out.update((key, configs) for key, configs in kinds if configs)
    return out


def consolidator(routing: RoutingSection) -> dict[str, Any] | None:
    """The consolidator's webhook receiver, every alert and its resolution, unbatched: one
    webhook a consolidator (Alertmanager retries each on its own)."""
    if not routing.consolidator_url:
        return None
    return receiver(Receiver(name=CONSOLIDATOR, webhook=tuple(WebhookReceiver(
        url=url, bearer_token_file=routing.consolidator_bearer_token_file)
        for url in (routing.consolidator_url, *routing.consolidator_peers))))


def receivers(routing: RoutingSection) -> list[dict[str, Any]]:
    first = consolidator(routing)
    return ([first] if first else []) + [receiver(r) for r in routing.receivers]
