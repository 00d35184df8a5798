"""The page's jinja2 template (autoescaped; page.py computes every value and coordinate).
Colours the Chromium test measures: .alert #f4c7c3 and .sofar #fbdca8 (the days in alert), the
count line #1f5fa8, the plot #fcfcfc, the strips' firing #d9534f and resolved #5cb85c."""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}
<title>{% if firing_total %}({{ firing_total }} firing) {% endif %}memwatch consolidator</title>
<style>
body { font: 14px/1.45 sans-serif; margin: 20px 32px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 22px 0 8px; }
h3 { font-size: 15px; margin: 18px 0 2px; }
a { color: #1a5690; } .meta, .legend, .more, .store-meta { color: #555; margin: 2px 0; }
nav a { margin-right: 10px; }
.status { padding: 8px 14px; border-radius: 4px; font-weight: bold; color: #fff;
  margin: 14px 0 0; }
.status.firing { background: #b52b27; } .status.ok { background: #2e7d32; }
table { border-collapse: collapse; } th { background: #f3f3f3; text-align: left; }
td, th { border-bottom: 1px solid #e2e2e2; padding: 3px 8px; vertical-align: middle; }
.sev { padding: 1px 6px; border-radius: 3px; font-size: 12px; color: #fff;
  background: #777; }
.sev-critical { background: #8b1a1a; } .sev-warning { background: #a8650a; }
.sev-info { background: #2f6f8f; }
.strip .bg { fill: #f0f0f0; } .strip .firing { fill: #d9534f; }
.strip .resolved { fill: #5cb85c; }
.firing-text { color: #b52b27; }
svg.count { display: block; }
.plot { fill: #fcfcfc; } .grid { stroke: #ececec; } .axis { stroke: #666; }
.alert { fill: #f4c7c3; } .sofar { fill: #fbdca8; }
.line { fill: none; stroke: #1f5fa8; stroke-width: 2; } .dot { fill: #1f5fa8; }
.gap { fill: #999; } .now { stroke: #777; stroke-dasharray: 3 3; }
.key { padding: 0 6px; } .key.day { background: #f7dcda; } .key.partial { background: #fde9c8; }
svg text { font: 11px sans-serif; fill: #444; }
.num { text-align: right; }
.knowledge td { max-width: 420px; } .knowledge ol { margin: 4px 0; padding-left: 20px; }
code.path { font-size: 12px; color: #555; }
.alerts td { white-space: nowrap; } .alerts td.name { white-space: normal; }
.summary { color: #555; font-size: 12px; max-width: 360px; }
</style></head><body>
{% macro runbook(link) %}{% if link and link.href %}<a href="{{ link.url }}">runbook</a>
{%- elif link %}<code class="path" title="{{ link.url }}">{{ link.section }}</code>
{%- endif %}{% endmacro %}
{% macro alerts(rows, firing) %}<table class="alerts {{ 'firing' if firing else 'resolved' }}">
<tr><th>Severity</th><th>Alert</th><th>Store</th><th>Started (UTC)</th>
{% if not firing %}<th>Resolved (UTC)</th>{% endif %}<th>{{ "For" if firing else "Lasted" }}</th>
<th>Last 24 hours</th><th>Runbook</th></tr>
{% for r in rows %}<tr class="alert" data-alert="{{ r.alert.alertname }}"
 data-store="{{ r.alert.store }}" data-starts="{{ r.alert.starts_at }}">
<td><span class="sev sev-{{ r.alert.severity }}">{{ r.alert.severity or "none" }}</span></td>
<td class="name">{{ r.alert.alertname }}{% if r.source %} <a href="{{ r.source }}">(graph)</a>
{%- endif %}{% if r.summary %}<div class="summary">{{ r.summary }}</div>{% endif %}</td>
<td>{{ r.alert.store }}</td><td>{{ r.since }}</td>
{% if not firing %}<td>{{ r.until }}</td>{% endif %}<td>{{ r.lasted }}</td>
<td><svg class="strip" width="{{ SW }}" height="{{ SH }}"><rect class="bg" width="{{ SW }}"
 height="{{ SH }}"/><rect class="{{ 'firing' if firing else 'resolved' }}" x="{{ r.bar[0] }}"
 width="{{ r.bar[1] }}" height="{{ SH }}"/></svg></td>
<td class="runbook">{{ runbook(r.runbook) }}</td></tr>
{% endfor %}</table>{% endmacro %}
<h1>memwatch consolidator</h1>
<p class="meta">As of {{ now }} UTC{% if refresh %}; reloads every {{ refresh }} s
(<a href="?days={{ days }}&amp;refresh=0">stop</a>){% endif %}. Last {{ days }} days
(<a href="?days=7">7</a>, <a href="?days=30">30</a>, <a href="?days=90">90</a>).</p>
<nav>API: <a href="/api/persistence/historical?days={{ days }}">historical</a>
<a href="/api/trends?days={{ days }}">trends</a>
<a href="/api/knowledge/summary">knowledge summary</a>
<a href="/api/knowledge/export">knowledge export</a> <a href="/api/responses">responses</a>
<a href="/api/persistence/health">storage</a> <a href="/metrics">metrics</a>
<a href="/openapi.json">OpenAPI</a> <a href="#reports">daily reports</a></nav>
{% if relative_runbooks %}<p class="more">Runbooks shown as <code>#section</code> are
sections of {% for f in relative_runbooks %}<code>{{ f }}</code>{{ ", " if not loop.last }}
{%- endfor %} in gen-monitoring's output directory; set alerts.runbook_url to the URL it is
served at for links.</p>{% endif %}

<section id="now">
{% if firing_total %}<p class="status firing" data-firing="{{ firing_total }}">
{{ firing_total }} alert{{ "s" if firing_total != 1 }} firing{% if firing_stores %} on
{{ firing_stores }} store{{ "s" if firing_stores != 1 }}{% endif %}</p>
{% else %}<p class="status ok" data-firing="0">Nothing firing.</p>{% endif %}
<h2>Firing now</h2>
{% if firing %}{{ alerts(firing, true) }}
{% if firing_total > firing|length %}<p class="more">The {{ firing|length }} newest of
{{ firing_total }}; each store's oldest is in its heading below.</p>{% endif %}
{% else %}<p>None.</p>{% endif %}
<h2>Resolved in the last 24 hours</h2>
{% if resolved %}{{ alerts(resolved, false) }}
{% if resolved_total > resolved|length %}<p class="more">The {{ resolved|length }} most
recent of {{ "more than " if resolved_more }}{{ resolved_total }}.</p>{% endif %}
{% else %}<p>None.</p>{% endif %}
</section>


<section id="stores">
<h2>Memory count per store, last {{ days }} days</h2>
<p class="legend">Each store's memory count from the snapshots. Shaded:
<span class="key day">a day in alert</span>, <span class="key partial">a day not
consolidated yet (today) in alert so far</span>; hover over a day for its alerts. Dashed:
now. Days are UTC. The values day by day:
<a href="/api/persistence/historical?days={{ days }}">/api/persistence/historical</a>, and
each consolidated day's <a href="#reports">report</a>.</p>
{% for v in stores %}{% set c = v.chart %}
<h3 id="store-{{ c.store }}">{{ c.store }}</h3>
<p class="store-meta">{% if v.count %}{{ v.count }} memories at {{ v.count_at }} UTC
{%- else %}no memory count recorded{% endif %};
{% if v.history.firing %}<strong class="firing-text">{{ v.history.firing }} firing since
{{ v.history.firing_since[:16]|replace("T", " ") }} UTC ({{ v.firing_for }})</strong>
{%- else %}nothing firing{% endif %}; in alert on {{ v.days_in_alert }} of the
{{ days }} days.</p>
<svg class="count" data-store="{{ c.store }}" data-lo="{{ c.lo if c.lo is not none }}"
 data-hi="{{ c.hi if c.hi is not none }}" width="{{ W }}" height="{{ H }}"
 viewBox="0 0 {{ W }} {{ H }}" xmlns="http://www.w3.org/2000/svg" role="img"
 aria-label="{{ c.store }}: memory count, days in alert shaded">
<rect class="plot" x="{{ L }}" y="{{ T }}" width="{{ W - L - R }}" height="{{ H - T - 34 }}"/>
<path class="grid" d="{% for x in c.grid %}M{{ x }} {{ T }}V{{ H - 34 }}{% endfor %}"/>
<g transform="translate(0 {{ T }})">{% for b in c.bands %}
<rect class="{{ 'sofar' if b.partial else 'alert' }}" x="{{ b.x }}" width="{{ b.width }}"
 height="{{ H - T - 34 }}"><title>{{ b.title }}</title></rect>{% endfor %}</g>
<line class="axis" x1="{{ L }}" y1="{{ T }}" x2="{{ L }}" y2="{{ H - 34 }}"/>
<line class="axis" x1="{{ L }}" y1="{{ H - 34 }}" x2="{{ W - R }}" y2="{{ H - 34 }}"/>
{% for t in c.values %}<line class="axis" x1="{{ L - 4 }}" y1="{{ t.pos }}" x2="{{ L }}"
 y2="{{ t.pos }}"/><text class="value" x="{{ L - 7 }}" y="{{ t.pos + 4 }}"
 text-anchor="end">{{ t.label }}</text>
{% endfor %}
{% for t in c.dates %}<text class="date" x="{{ t.pos }}" y="{{ H - 34 + 15 }}"
 text-anchor="middle">{{ t.label }}</text>
{% endfor %}
<line class="now" x1="{{ c.now_x }}" y1="{{ T }}" x2="{{ c.now_x }}" y2="{{ H - 34 }}"/>
{% for pts in c.lines %}<polyline class="line" points="{{ pts }}"/>
{% endfor %}
{% for x, y in c.dots %}<circle class="dot" cx="{{ x }}" cy="{{ y }}" r="3"/>{% endfor %}
{% for x in c.gaps %}<rect class="gap" x="{{ x - 1 }}" y="{{ H - 34 - 5 }}" width="2"
 height="5"><title>no snapshot: Prometheus did not answer</title></rect>{% endfor %}
{% if c.last %}<text class="last" x="{{ c.last_x + 6 }}" y="{{ c.last.pos + 4 }}"
 font-weight="bold">{{ c.last.label }}</text>
{% else %}<text x="{{ (W + L - R) / 2 }}" y="{{ (H - 34 + T) / 2 }}" text-anchor="middle">
No memory count recorded (snapshots need consolidator.prometheus_url).</text>{% endif %}
<text x="{{ L }}" y="{{ H - 4 }}">UTC days</text>
</svg>
{% endfor %}
</section>

<section id="knowledge">
<h2>Knowledge base: {{ entries|length }} recurring pattern{{ "s" if entries|length != 1 }}</h2>
<p class="legend">Alerts seen on at least {{ min_days }} distinct UTC days over the whole
history (pruned alerts included), with their runbooks.</p>
{% if entries %}<table class="knowledge"><tr><th>Title</th><th>Alert / store</th>
<th>Severity</th><th>Category</th><th class="num">Occurrences</th><th class="num">Days</th>
<th>First / last seen</th><th>Mean duration</th><th>Solution</th><th>Runbook</th></tr>
{% for r in entries %}{% set e = r.entry %}<tr data-key="{{ e.key }}"><td>{{ e.title }}</td>
<td>{{ e.key }}</td><td>{{ e.severity }}</td><td>{{ e.category }}</td>
<td class="num">{{ e.pattern.occurrences }}</td><td class="num">{{ e.pattern.days }}</td>
<td>{{ e.pattern.first_seen[:10] }} / {{ e.pattern.last_seen[:10] }}</td><td>{{ r.mean }}</td>
<td>{{ e.solution }}{% if e.steps %}<ol>{% for s in e.steps %}<li>{{ s }}</li>
{% endfor %}</ol>{% endif %}</td>
<td>{{ runbook(r.runbook) }}</td></tr>
{% endfor %}</table>{% else %}<p>No recurring alert pattern yet.</p>{% endif %}
</section>

<section id="reports">
<h2>Daily reports</h2>
{% if reports %}<p>{% for d in reports %}<a href="/api/reports/{{ d }}">{{ d }}</a>
{% endfor %}</p>{% else %}<p>No day of the window consolidated yet.</p>{% endif %}
</section>
</body></html>
"""
