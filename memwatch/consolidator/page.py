"""GET /: each store's daily trend as a server-side SVG chart with its alert days marked,
and the knowledge base, so a person sees a month at a glance without Grafana."""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, select_autoescape

from memwatch.consolidator.daily import DailyRow
from memwatch.consolidator.knowledge import Entry

WIDTH, HEIGHT, PAD = 720, 160, 24
DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class Bar:
    day: str
    seconds: float
    fired: int
    x: float
    y: float
    width: float
    height: float


def bars(rows: list[DailyRow]) -> list[Bar]:
    """One bar per day: its height is the share of the day spent in alert."""
    if not rows:
        return []
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / len(rows)
    out = []
    for i, r in enumerate(rows):
        h = round(inner_h * min(r.alert_seconds, DAY_SECONDS) / DAY_SECONDS, 2)
        out.append(Bar(day=r.day, seconds=r.alert_seconds, fired=r.fired_total,
                       x=round(PAD + i * step + step * 0.1, 2), y=round(PAD + inner_h - h, 2),
                       width=round(step * 0.8, 2), height=h))
    return out


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>memwatch consolidator</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
svg { background: #fafafa; border: 1px solid #ddd; }
.bar { fill: #d9534f; } .mark { fill: #f0ad4e; stroke: #8a5a00; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 4px 8px; }
</style></head><body>
<h1>memwatch consolidator</h1>
<h2>Daily trends (share of each day in alert; dots: days alerts fired)</h2>
{% for store, store_bars in charts %}
<h3>{{ store }}</h3>
{% if store_bars %}
<svg class="trend" data-store="{{ store }}" width="{{ W }}" height="{{ H }}"
     viewBox="0 0 {{ W }} {{ H }}" xmlns="http://www.w3.org/2000/svg" role="img"
     aria-label="{{ store }}: time in alert per day">
<line x1="{{ P }}" y1="{{ H - P }}" x2="{{ W - P }}" y2="{{ H - P }}" stroke="#999"/>
{% for b in store_bars %}<rect class="bar" data-day="{{ b.day }}"
 data-seconds="{{ b.seconds }}" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.width }}"
 height="{{ b.height }}"><title>{{ b.day }}: {{ b.seconds|int }} s in alert,
 {{ b.fired }} fired</title></rect>
{% if b.fired %}<circle class="mark" data-day="{{ b.day }}" data-fired="{{ b.fired }}"
 cx="{{ b.x + b.width / 2 }}" cy="{{ P / 2 }}" r="5"/>{% endif %}
{% endfor %}
<text x="{{ P }}" y="{{ H - 6 }}" font-size="11">{{ store_bars[0].day }}</text>
<text x="{{ W - P }}" y="{{ H - 6 }}" font-size="11"
 text-anchor="end">{{ store_bars[-1].day }}</text>
</svg>
{% else %}<p>No consolidated days yet.</p>{% endif %}
{% endfor %}
<h2>Knowledge base ({{ entries|length }} entries)</h2>
{% if entries %}<table class="knowledge"><tr><th>Title</th><th>Severity</th><th>Category</th>
<th>Occurrences</th><th>Days</th><th>Solution</th></tr>
{% for e in entries %}<tr data-key="{{ e.key }}"><td>{{ e.title }}</td><td>{{ e.severity }}</td>
<td>{{ e.category }}</td><td>{{ e.pattern.occurrences }}</td><td>{{ e.pattern.days }}</td>
<td>{{ e.solution }}{% if e.steps %}<ol>{% for s in e.steps %}<li>{{ s }}</li>
{% endfor %}</ol>{% endif %}</td></tr>
{% endfor %}</table>{% else %}<p>No recurring alert pattern yet.</p>{% endif %}
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_template = _env.from_string(TEMPLATE)


def render(daily: dict[str, list[DailyRow]], entries: list[Entry]) -> str:
    charts = [(store, bars(rows)) for store, rows in sorted(daily.items())]
    return _template.render(charts=charts, entries=entries, W=WIDTH, H=HEIGHT, P=PAD)
