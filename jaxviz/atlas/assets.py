"""The atlas' one stylesheet and one script, written beside its pages: no fonts, libraries or network."""

CSS = """\
:root { --bg: #fafaf9; --fg: #1c1c1e; --muted: #5c6066; --line: #dadcdf; --card: #fff; --tile: #ececec;
  --accent: #0b57d0; --dead: #6b6f75; --bad: #b3261e; color-scheme: light dark;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
@media (prefers-color-scheme: dark) { :root { --bg: #131314; --fg: #e6e6e6; --muted: #a2a6ab; --line: #34363a;
  --card: #1d1e20; --tile: #27292c; --accent: #8ab4f8; --dead: #80858c; --bad: #f28b82; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; border-radius: 4px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; z-index: 10; background: var(--card); padding: .4rem .8rem; }
.top { background: var(--card); border-bottom: 1px solid var(--line); padding: .55rem 1rem; }
.top nav { max-width: 1280px; margin: 0 auto; display: flex; flex-wrap: wrap; gap: .3rem 1rem; align-items: baseline; }
.brand { font-weight: 700; letter-spacing: .02em; color: var(--muted); font-size: .9rem; }
.crumbs { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem; min-width: 0; }
.crumbs li + li::before { content: "›"; margin-right: .3rem; color: var(--muted); }
.crumbs [aria-current] { font-weight: 600; }
main, footer { max-width: 1280px; margin: 0 auto; padding: 1rem; }
footer { color: var(--muted); font-size: .85rem; border-top: 1px solid var(--line); margin-top: 2rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: .4rem 0 .3rem; overflow-wrap: anywhere; }
h1 .pre { color: var(--muted); font-weight: 400; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .6rem; }
.lede, .muted { color: var(--muted); }
.lede { margin: 0 0 1rem; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
td[data-v] { text-align: right; }
th small { display: block; font-weight: 400; color: var(--muted); font-size: .78rem; }
th button { background: none; border: 0; padding: 0; font: inherit; color: inherit; cursor: pointer; text-align: left; }
th[aria-sort=ascending] button::after { content: " ▲"; }
th[aria-sort=descending] button::after { content: " ▼"; }
img { display: block; max-width: 100%; height: auto; background: var(--tile); }
img.px { image-rendering: pixelated; }
.ph { display: flex; align-items: center; justify-content: center; aspect-ratio: 1; color: var(--muted);
  font-size: .75rem; border: 1px dashed var(--line); background: repeating-linear-gradient(45deg,
  var(--tile) 0 6px, transparent 6px 12px); }
.strip { list-style: none; display: flex; flex-wrap: wrap; gap: 4px; margin: 0; padding: 0; }
.strip img, .strip .ph { width: 56px; height: 56px; object-fit: cover; border-radius: 4px; }
.layers th, .layers td { padding: .35rem .45rem; }
.layers thead th { font-size: .85rem; line-height: 1.3; vertical-align: bottom; }
.layers th[scope=row] { white-space: nowrap; }
.layers tr.nums > * { border-bottom: 0; }
.layers td.best { padding-bottom: .7rem; }
/* Wider numbers than the window scroll inside .scroll; the strip stays in view and wraps to the visible width. */
.scroll.strips { container-type: inline-size; }
.layers td.best > * { position: sticky; left: .45rem; max-width: calc(100cqi - .9rem); }
.pager { display: flex; justify-content: space-between; gap: 1rem; margin: .4rem 0 1rem; }
.pager .off { visibility: hidden; }
.controls { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.25rem; margin: 0 0 1rem;
  padding: .55rem .8rem; background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  position: sticky; top: 0; z-index: 2; }
.controls select, .controls input, .controls button { font: inherit; }
.controls input[type=number] { width: 5.5em; margin: 0 .3rem; }
.controls output:empty { display: none; }
.tiles { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px;
  grid-template-columns: repeat(auto-fill, minmax(112px, 1fr)); }
.tiles a { display: block; position: relative; color: inherit; text-decoration: none; border-radius: 6px; }
.tiles img, .tiles .ph { width: 100%; border-radius: 6px; }
.cap { display: flex; justify-content: space-between; gap: .3rem; font-size: .8rem; padding: 2px 2px 0; }
.cap span { color: var(--muted); }
.hide-dead .dead { display: none; }
.badge { font-size: .7rem; font-weight: 600; padding: 1px 7px; border-radius: 999px; color: #fff;
  background: var(--dead); vertical-align: middle; }
.badge.nan { background: var(--bad); }
.badge.partial { background: var(--bad); white-space: normal; }
.tiles .badge { position: absolute; top: 4px; left: 4px; }
.filter { display: grid; gap: 1.5rem; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 860px) { .filter { grid-template-columns: minmax(0, 5fr) minmax(0, 6fr); } }
.hero { margin: 0; }
.hero img, .hero .ph { width: 100%; max-width: 512px; border-radius: 8px; }
.hero figcaption, .curve figcaption { color: var(--muted); font-size: .85rem; margin-top: .4rem; }
.facts h2:first-child { margin-top: 0; }
.curve { margin: 0; }
.curve svg { display: block; width: 100%; max-width: 560px; height: auto; }
.curve .axes line { stroke: var(--muted); }
.curve text { fill: var(--muted); font-size: 12px; }
.curve polyline { fill: none; stroke: var(--accent); stroke-width: 2.5; }
.curve circle { fill: var(--accent); }
.curve line.nan { stroke: var(--bad); stroke-dasharray: 4 3; }
.curve text.nan { fill: var(--bad); }
details { margin: .5rem 0; }
.numbers th { font-weight: 500; color: var(--muted); }
.numbers td { text-align: right; }
.values { font-size: .85rem; }
.peers { list-style: none; padding: 0; display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); }
.peers li { font-size: .8rem; }
.peers img, .peers .ph { width: 100%; border-radius: 6px; }
.peers a { color: inherit; text-decoration: none; }
.peers .cap { display: block; margin-top: 4px; color: var(--muted); }
.peers .cap b { color: var(--fg); }
.peers .here { outline: 3px solid var(--accent); outline-offset: 3px; border-radius: 6px; }
.keys { color: var(--muted); font-size: .85rem; }
kbd { font: inherit; font-size: .85em; padding: 0 .35em; border: 1px solid var(--line); border-bottom-width: 2px;
  border-radius: 4px; background: var(--card); }
pre.config { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .75rem;
  overflow: auto; font-size: .85rem; }
.status.failed, .error { color: var(--bad); }
.points tbody th { white-space: nowrap; }
.links li { margin: .25rem 0; }
.compare td { padding: 4px 6px; }
.compare img, .compare .ph { width: 96px; border-radius: 4px; }
.compare a { color: inherit; text-decoration: none; display: block; }
.compare thead th { position: sticky; top: 0; z-index: 1; background: var(--bg); }
.compare tbody th { position: sticky; left: 0; background: var(--bg); }
.compare tr:target th { color: var(--accent); }
@media (max-width: 640px) {
  main, footer { padding: .75rem; }
  .controls { position: static; }
  h1 { font-size: 1.35rem; }
  .tiles { grid-template-columns: repeat(auto-fill, minmax(84px, 1fr)); gap: 6px; }
  .cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  .cards, .cards tbody, .cards tr, .cards th, .cards td { display: block; }
  .cards tr { border: 1px solid var(--line); border-radius: 8px; margin-bottom: .75rem; padding: .3rem .7rem;
    background: var(--card); }
  .cards th, .cards td { border: 0; padding: .15rem 0; }
  .cards th[scope=row] { font-size: 1.1rem; }
  .cards td { display: flex; justify-content: space-between; text-align: right; }
  .cards td::before { content: attr(data-label); color: var(--muted); text-align: left; }
  .cards td.best { display: block; min-width: 0; text-align: left; }
  .layers.cards tr.nums { margin-bottom: 0; border-bottom: 0; border-radius: 8px 8px 0 0; }
  .layers.cards tr.best-row { border-top: 0; border-radius: 0 0 8px 8px; }
  .cards td.best::before { display: block; margin-bottom: .2rem; }
  .compare img, .compare .ph { width: 72px; }
  .curve text { font-size: 18px; }
}
"""

JS = """\
/* jaxviz atlas: sorting, hiding, jumping, keys. The pages work without it; it loads nothing. */
(function () {
  "use strict";
  var KEYS = { ArrowLeft: "prev", ArrowRight: "next", "[": "layer-prev", "]": "layer-next" };

  function placeholder(img) {  // a picture deleted after its page was written
    var ph = document.createElement("span");
    ph.className = "ph";
    ph.setAttribute("role", "img");
    ph.setAttribute("aria-label", (img.alt || "image") + ": image missing");
    ph.textContent = "no image";
    img.replaceWith(ph);
  }
  document.addEventListener("error", function (e) { if (e.target.tagName === "IMG") placeholder(e.target); }, true);

  function setHash(h) {
    var url = location.href.split("#")[0] + (h ? "#" + h : "");
    try { history.replaceState(null, "", url); } catch (err) { location.replace(url); }
  }

  function layerPage(data) {
    var list = document.getElementById("tiles"), items = Array.prototype.slice.call(list.children);
    var sort = document.getElementById("sort"), reverse = document.getElementById("reverse");
    var hide = document.getElementById("hide-dead"), state = new URLSearchParams(location.hash.slice(1));
    if (data.fields.indexOf(state.get("sort")) >= 0) sort.value = state.get("sort");
    reverse.checked = state.has("reverse");
    hide.checked = state.has("hide-dead");
    function apply(save) {
      var k = data.fields.indexOf(sort.value), down = (sort.value !== "filter") !== reverse.checked;
      items.sort(function (a, b) {
        var i = +a.dataset.i, j = +b.dataset.i, x = data.rows[i][k], y = data.rows[j][k];
        if (x === y) return i - j;
        if (x === null) return 1;
        if (y === null) return -1;
        return down ? y - x : x - y;
      });
      list.append.apply(list, items);
      list.classList.toggle("hide-dead", hide.checked);
      if (!save) return;
      var p = new URLSearchParams();
      if (sort.value !== "filter") p.set("sort", sort.value);
      if (reverse.checked) p.set("reverse", "");
      if (hide.checked) p.set("hide-dead", "");
      setHash(p.toString().replace(/=(&|$)/g, "$1"));
    }
    [sort, reverse, hide].forEach(function (el) { el.addEventListener("change", function () { apply(true); }); });
    apply(false);
    jumpTo(function (n) {
      var li = list.querySelector('li[data-f="' + n + '"]');
      if (li) location.href = li.querySelector("a").href;
      return !!li;
    });
  }

  function jumpTo(go) {
    var input = document.getElementById("jump"), msg = document.getElementById("jump-msg");
    input.form.addEventListener("submit", function (e) {
      e.preventDefault();
      var n = parseInt(input.value, 10);
      msg.textContent = isNaN(n) ? "Type a filter number." : go(n) ? "" : "Filter " + n + " is not in this run.";
    });
  }

  function value(cell) {
    var v = cell.getAttribute("data-v");
    return v !== null ? parseFloat(v) : cell.textContent.trim();
  }

  function order(x, y) {
    var nx = typeof x === "number", ny = typeof y === "number";
    if (nx && ny) return x - y;
    if (nx !== ny) return nx ? -1 : 1;
    return String(x).localeCompare(String(y), undefined, { numeric: true });
  }

  function sortable(table) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      var b = document.createElement("button");
      b.type = "button";
      while (th.firstChild) b.appendChild(th.firstChild);
      th.appendChild(b);
      b.addEventListener("click", function () {
        var up = th.getAttribute("aria-sort") !== "ascending", body = table.tBodies[0];
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) { return order(value(a.cells[col]), value(b.cells[col])) * (up ? 1 : -1); });
        body.append.apply(body, rows);
      });
    });
  }

  function ready() {
    document.querySelectorAll("img:not([loading=lazy])").forEach(function (img) {
      if (img.complete && img.naturalWidth === 0) placeholder(img);
    });
    document.querySelectorAll(".js[hidden]").forEach(function (el) { el.hidden = false; });
    var rows = document.getElementById("rows");
    if (rows) layerPage(JSON.parse(rows.textContent));
    else if (document.getElementById("jump")) jumpTo(function (n) {
      var row = document.getElementById("f" + n);
      if (row) row.scrollIntoView({ block: "center" });
      if (row) (row.querySelector("a") || row).focus({ preventScroll: true });
      return !!row;
    });
    document.querySelectorAll("table.sortable").forEach(sortable);
    var metric = document.getElementById("metric"), table = document.getElementById("points");
    function show() {
      table.querySelectorAll("[data-field]").forEach(function (c) { c.hidden = c.dataset.field !== metric.value; });
    }
    if (metric && table) { metric.addEventListener("change", show); show(); }
  }

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName))) return;
    var a = KEYS[e.key] && document.querySelector('a[data-key="' + KEYS[e.key] + '"]');
    if (a) { e.preventDefault(); location.href = a.href; }
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
"""
