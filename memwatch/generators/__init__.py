"""gen-monitoring: rules, tests, routes and dashboards rendered from the spec."""
