"""One run's overview pages: its model (index: every layer, its numbers, its best filters) and each layer."""

from __future__ import annotations

from jaxviz.atlas.html import (
    alt_text,
    data_script,
    esc,
    filter_page,
    fmt,
    href,
    label,
    layer_page,
    numeric,
    page,
    pager,
    picture,
    short,
)
from jaxviz.atlas.view import RunView, crumbs

BEST = 6  # filters in each layer's strip on the index page


def _lede(v: RunView) -> str:
    s, n = v.run.settings, sum(map(len, v.run.records.values()))
    parts = [f"VGG16, {len(v.run.records)} layer{'s' * (len(v.run.records) != 1)}, {n} filters"]
    parts += [f"{s[k]}{unit}" for k, unit in (("size", " px"), ("steps", " steps")) if k in s]
    return f'<p class="lede">{esc(" · ".join(parts))}</p>'


def _best(v: RunView, here: str, layer: str) -> str:
    rows = [r for r in v.run.records[layer] if numeric(r.get("activation")) and not r.get("dead")]
    rows = sorted(rows, key=lambda r: -r["activation"])[:BEST]
    items = "".join(
        f'<li><a href="{href(here, filter_page(v.prefix, layer, f))}">'
        f"{picture(here, v.pictures[layer].get(f), f'{layer} filter {f}')}</a></li>"
        for f in (r["filter"] for r in rows)
    )
    if not items:
        return '<span class="muted">No live filter to show.</span>'
    return f'<ul class="strip" aria-label="Best filters of {esc(layer)}: highest final activation">{items}</ul>'


def _partial(summary: dict) -> str:
    """A mark for a layer an interruption left unfinished (metrics.json's "partial")."""
    if not summary.get("partial"):
        return ""
    text = f"partial: {summary.get('filters')} of {summary.get('planned')} filters, rerun to resume"
    return f' <span class="badge partial">{esc(text)}</span>'


def index_html(v: RunView) -> str:
    """The run's home: each layer with its numbers and a strip of its best filters, then the resolved config."""
    here, summaries = f"{v.prefix}index.html", v.run.layers
    fields = list(dict.fromkeys(k for s in summaries.values() for k, x in s.items() if numeric(x) and k != "planned"))
    head = "".join(f'<th scope="col">{esc(label(f))}</th>' for f in fields)
    # Each layer's strip gets a row of its own below its numbers: in a column after them it would be pushed out
    # of view (behind the table's scrollbar) by the numbers, whose count grows with every field a run records.
    rows = "".join(
        f'<tr class="nums"><th scope="row"><a href="{href(here, layer_page(v.prefix, layer))}">{esc(layer)}</a>'
        f"{_partial(s)}</th>"
        + "".join(f'<td data-label="{esc(label(f))}">{fmt(s.get(f))}</td>' for f in fields)
        + f'</tr><tr class="best-row"><td class="best" colspan="{len(fields) + 1}" data-label="best filters">'
        f"{_best(v, here, layer)}</td></tr>"
        for layer, s in summaries.items()
    )
    table = (
        f'<p class="muted">Each layer\'s numbers, and below them its {BEST} filters with the highest final '
        f'activation (dead filters left out).</p><div class="scroll strips"><table class="layers cards"><thead>'
        f'<tr><th scope="col">layer</th>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
        if rows
        else '<p class="muted">No layer has finished yet; this page fills in as layers finish.</p>'
    )
    point = f'<p class="point">Sweep point: {esc(v.caption)}</p>' if v.caption else ""
    config = (
        f'<section aria-labelledby="config-h"><h2 id="config-h">Resolved config</h2>'
        f'<details><summary>config.toml</summary><pre class="config">{esc(v.run.config)}</pre></details></section>'
        if v.run.config
        else ""
    )
    body = (
        f"<h1>{esc(v.run.name)}</h1>{_lede(v)}{point}"
        f'<section aria-labelledby="layers-h"><h2 id="layers-h">Layers</h2>{table}</section>{config}'
    )
    return page(here, v.run.name, crumbs(v), body, "index")


def layer_html(v: RunView, here: str, layer: str, prev: str | None, nxt: str | None) -> str:
    """Every filter of `layer` as a tile; the script sorts them by any numeric field and hides dead ones."""
    rows, s = v.run.records[layer], v.run.layers[layer]
    fields = ["filter"] + [
        k for k in dict.fromkeys(k for r in rows for k in r) if k != "filter" and any(numeric(r.get(k)) for r in rows)
    ]
    options = "".join(
        f'<option value="{esc(f)}">{esc(label(f) if f != "filter" else "filter number")}</option>' for f in fields
    )
    tiles = []
    for i, r in enumerate(rows):
        f, flags = r["filter"], [k for k in ("dead", "nan") if r.get(k)]
        badges = "".join(f'<span class="badge {k}">{label(k)}</span>' for k in flags)
        link = href(here, filter_page(v.prefix, layer, f))
        tiles.append(
            f'<li data-i="{i}" data-f="{f}" class="{" ".join(flags)}"><a href="{link}">'
            f"{picture(here, v.pictures[layer].get(f), alt_text(f'{layer} filter {f}', r))}"
            f'<span class="cap"><b>{f}</b> <span>{short(r.get("activation"))}</span></span>{badges}</a></li>'
        )
    data = {"fields": fields, "rows": [[r.get(k) if numeric(r.get(k)) else None for k in fields] for r in rows]}
    numbers = [f"{s.get('filters', len(rows))} filters", f"{s.get('dead', 0)} dead", f"{s.get('nan', 0)} NaN"]
    numbers += [f"mean activation {fmt(s['activation_mean'])}"] if numeric(s.get("activation_mean")) else []
    compare = (
        f' · <a href="{href(here, v.compare.format(layer=layer))}">compare across the sweep</a>' if v.compare else ""
    )
    layers = [(x, layer_page(v.prefix, x)) if x else None for x in (prev, nxt)]
    body = f"""<h1>{esc(layer)}</h1>
<p class="lede">{esc(" · ".join(numbers))}{compare}</p>
{pager(here, "Layers", *layers)}
<form class="controls js" id="controls" hidden>
<label>Sort by <select id="sort">{options}</select></label>
<label><input type="checkbox" id="reverse"> reverse</label>
<label><input type="checkbox" id="hide-dead"> hide dead filters ({s.get("dead", 0)})</label>
<span class="jump"><label for="jump">Go to filter</label><input id="jump" type="number" inputmode="numeric" min="0" \
size="4"><button type="submit">Go</button></span>
<output id="jump-msg" role="status"></output>
</form>
<p class="muted legend">Each tile: the filter's number and its final activation.</p>
<ol class="tiles" id="tiles" aria-label="Filters of {esc(layer)}">{"".join(tiles)}</ol>
{data_script("rows", data)}"""
    return page(here, layer, crumbs(v, (layer, None)), body, "layer")
