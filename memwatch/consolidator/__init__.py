"""The consolidator: a sidecar that receives Alertmanager webhooks and keeps alert history."""
