"""The consolidator's HTTP API, one router per group of routes; consolidator.app assembles
them."""
