"""A sweep's own pages: its points in a sortable table, and each layer's filters across every point."""

from __future__ import annotations

from typing import Any

from jaxviz.atlas.html import alt_text, esc, filter_page, fmt, href, label, layer_page, numeric, page, picture, short
from jaxviz.atlas.site import Sweep
from jaxviz.atlas.tiles import dead
from jaxviz.atlas.view import Peer

HOME = "index.html"
FIRST = ("activation_mean", "activation_median", "activation_max", "dead", "nan")  # the per-layer numbers offered first


def compare_page(layer: str) -> str:
    return f"compare/{layer}.html"


def swept(value: Any) -> str:
    """A swept value as the sweep file writes it (1.0 stays 1.0: it names the point)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(swept, value))
    return repr(value) if isinstance(value, float) else str(value)


def caption(values: dict[str, Any]) -> str:
    """Swept values for people: `steps 20 · step 0.5` (keys shortened to their last dotted part when unique)."""
    shorts = [k.rsplit(".", 1)[-1] for k in values]
    return " · ".join(
        f"{s if shorts.count(s) == 1 else k} {swept(v)}" for k, s, v in zip(values, shorts, values.values())
    )


def _cell(value: Any, text: str | None = None, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
    sort = f' data-v="{value}"' if numeric(value) else ""
    return f"<td{sort}{extra}>{esc(fmt(value) if text is None else text)}</td>"


def sweep_index(sw: Sweep, peers: dict[str, Peer]) -> str:
    """The sweep's home: a table of its points (swept values, status, per-layer metrics) and its layers."""
    layers = sw.layers()
    stats = {p.name: p.stats() for p in sw.points}
    fields = list(dict.fromkeys(f for s in stats.values() for la in s.values() for f, x in la.items() if numeric(x)))
    fields.sort(key=lambda f: FIRST.index(f) if f in FIRST else len(FIRST))
    axes = list(sw.axes) or list(dict.fromkeys(k for p in sw.points for k in p.values))
    head = (
        "".join(f'<th scope="col">{esc(k)}</th>' for k in axes)
        + '<th scope="col">status</th><th scope="col">seconds</th>'
    )
    head += "".join(
        f'<th scope="col" data-field="{esc(f)}">{esc(la)}<small>{esc(label(f))}</small></th>'
        for la in layers
        for f in fields
    )
    rows = []
    for p in sw.points:
        name = f'<a href="{esc(peers[p.name].prefix)}index.html">{esc(p.name)}</a>' if p.name in peers else esc(p.name)
        error = f'<br><small class="error">{esc(p.entry.get("error"))}</small>' if p.entry.get("error") else ""
        cells = "".join(_cell(p.values.get(k), swept(p.values.get(k))) for k in axes)
        cells += f'<td class="status {esc(p.status)}">{esc(p.status)}{error}</td>{_cell(p.entry.get("seconds"))}'
        cells += "".join(_cell(stats[p.name].get(la, {}).get(f), data_field=f) for la in layers for f in fields)
        rows.append(f'<tr><th scope="row">{name}</th>{cells}</tr>')
    options = "".join(f'<option value="{esc(f)}">{esc(label(f))}</option>' for f in fields)
    done = sum(p.status == "done" for p in sw.points)
    span = "; ".join(f"{k} ∈ {', '.join(swept(x) for x in v)}" for k, v in sw.axes.items() if isinstance(v, list))
    compare = "".join(
        f'<li><a href="{compare_page(la)}">{esc(la)}</a> — '
        f"{len({f for pe in peers.values() for f in pe.records.get(la, {})})} filters across {len(peers)} points</li>"
        for la in layers
    )
    config = (
        f"<details><summary>sweep.toml</summary><pre class='config'>{esc(sw.config)}</pre></details>"
        if sw.config
        else ""
    )
    body = f"""<h1>{esc(sw.name)}</h1>
<p class="lede">Sweep ({esc(sw.mode or "?")}) · {len(sw.points)} points, {done} done · {esc(span)}</p>
<section aria-labelledby="points-h"><h2 id="points-h">Points</h2>
<form class="controls js" hidden><label>Per-layer number <select id="metric">{options}</select></label>
<span class="muted">Select a column heading to sort.</span></form>
<div class="scroll"><table class="points sortable" id="points"><thead><tr><th scope="col">point</th>{head}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></div></section>
<section aria-labelledby="compare-h"><h2 id="compare-h">Filters across points</h2>
{f'<ul class="links">{compare}</ul>' if compare else '<p class="muted">No point has finished a layer.</p>'}</section>
<section aria-labelledby="config-h"><h2 id="config-h">Resolved sweep</h2>{config}</section>"""
    return page(HOME, sw.name, [(sw.name, None)], body, "sweep")


def compare_html(sw: Sweep, layer: str, peers: list[Peer]) -> str:
    """One layer's filters (rows) in every point (columns), each image linking to that filter's page there."""
    here = compare_page(layer)
    filters = sorted({f for p in peers for f in p.records.get(layer, {})})
    head = "".join(
        f'<th scope="col"><a href="{href(here, layer_page(p.prefix, layer))}">{esc(p.name)}</a>'
        f"<small>{esc(p.caption)}</small></th>"
        for p in peers
    )
    rows = []
    for f in filters:
        cells = []
        for p in peers:
            r = p.records.get(layer, {}).get(f)
            if r is None:
                cells.append('<td class="muted">not run</td>')
                continue
            img = picture(here, p.pictures.get(layer, {}).get(f), alt_text(f"filter {f} in point {p.name}", r))
            link = href(here, filter_page(p.prefix, layer, f))
            shown = ("dead", ' class="dead"') if dead(r) else (short(r.get("activation")), "")
            cells.append(f'<td{shown[1]}><a href="{link}">{img}<span class="cap">{shown[0]}</span></a></td>')
        rows.append(f'<tr id="f{f}"><th scope="row">{f}</th>{"".join(cells)}</tr>')
    body = f"""<h1>{esc(layer)} across {len(peers)} points</h1>
<p class="lede">Each row is one filter, each column one point of the sweep, with its final activation. \
Select an image to open that filter's page in that point.</p>
<form class="controls js" hidden><span class="jump"><label for="jump">Go to filter</label>\
<input id="jump" type="number" inputmode="numeric" min="0" size="4"><button type="submit">Go</button></span>
<output id="jump-msg" role="status"></output></form>
<div class="scroll"><table class="compare"><thead><tr><th scope="col">filter</th>{head}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></div>"""
    return page(here, f"{layer} across the sweep", [(sw.name, HOME), (f"{layer} across points", None)], body, "compare")
