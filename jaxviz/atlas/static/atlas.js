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

  function pictureOf(p, gone) {  // the picture macro (macros.html), for what the across page draws here
    if (p.src === null) {
      var ph = document.createElement("span");
      ph.className = "ph";
      ph.setAttribute("role", "img");
      ph.setAttribute("aria-label", gone ? p.alt : p.alt + ": no image stored");
      ph.textContent = gone || "no image";
      return ph;
    }
    var img = document.createElement("img");
    img.src = p.src;
    img.width = p.width;
    img.height = p.height;
    img.alt = p.alt;
    if (p.crisp) img.className = "px";
    img.loading = "lazy";
    img.decoding = "async";
    return img;
  }

  function make(tag, className, text) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // A layer across a sweep. The page is the same whatever the points: compare/points.js lists them
  // (window.jaxvizPoints); each has one script for this layer, loaded here, which pushes its filters onto
  // window.jaxvizAcross. Then the table (a row a filter, a column a point) and #f<number>: that filter in every point.
  function acrossPage(table) {
    // data-layer: the layer's own name (what points.js lists); data-file: its name in paths (network.layer_file).
    var layer = table.dataset.layer, file = table.dataset.file || layer;
    var all = (window.jaxvizPoints || { points: [] }).points;
    var points = all.filter(function (p) { return p.layers.indexOf(layer) >= 0; });
    var head = table.tHead.rows[0];
    points.forEach(function (p) {
      var th = make("th"), a = make("a", "", p.name);
      th.scope = "col";
      a.href = p.prefix + "layers/" + file + ".html";
      th.appendChild(a);
      th.appendChild(make("small", "", p.caption));
      head.appendChild(th);
    });
    var waiting = points.length;
    function loaded() { if (--waiting === 0) drawAcross(table, points, window.jaxvizAcross || []); }
    if (!waiting) drawAcross(table, points, []);
    points.forEach(function (p) {
      var script = document.createElement("script");
      script.src = p.prefix + "across/" + file + ".js";
      script.async = false;
      script.onload = script.onerror = loaded;  // a point whose script is gone shows "not run"
      document.body.appendChild(script);
    });
  }

  function drawAcross(table, points, data) {
    var byPoint = {}, seen = {};
    data.forEach(function (d) {
      byPoint[d.point] = {};
      d.filters.forEach(function (x) { byPoint[d.point][x.filter] = x; seen[x.filter] = true; });
    });
    var filters = Object.keys(seen).map(Number).sort(function (a, b) { return a - b; });
    document.getElementById("across-count").textContent =
      filters.length + " filters in " + points.length + " point" + (points.length === 1 ? "" : "s") + ".";
    var rows = document.createDocumentFragment();
    filters.forEach(function (f) {
      var tr = make("tr"), th = make("th"), a = make("a", "", String(f));
      tr.id = "f" + f;
      th.scope = "row";
      a.href = "#f" + f;
      th.appendChild(a);
      tr.appendChild(th);
      points.forEach(function (p) {
        var x = (byPoint[p.name] || {})[f], td = make("td");
        if (!x) {
          td.className = "muted";
          td.textContent = "not run";
        } else {
          var link = make("a");
          if (x.dead) td.className = "dead";
          link.href = x.href;
          link.appendChild(pictureOf(x.picture));
          link.appendChild(make("span", "cap", x.text));
          td.appendChild(link);
        }
        tr.appendChild(td);
      });
      rows.appendChild(tr);
    });
    table.tBodies[0].appendChild(rows);

    var section = document.getElementById("focus"), list = document.getElementById("focus-list");
    function focus() {
      var m = /^#f(\d+)$/.exec(location.hash), f = m ? +m[1] : null;
      table.querySelectorAll("tr.focus").forEach(function (tr) { tr.classList.remove("focus"); });
      if (f === null || !seen[f]) { section.hidden = true; return; }
      document.getElementById("focus-h").textContent = table.dataset.layer + " filter " + f + " in every point";
      list.textContent = "";
      points.forEach(function (p) {
        var x = (byPoint[p.name] || {})[f], li = make("li"), cap = make("span", "cap", p.caption || p.name);
        cap.appendChild(make("br"));
        cap.appendChild(make("b", "", x ? x.final : "not run"));
        var inner = x ? make("a") : li;
        if (x) {
          inner.href = x.href;
          li.appendChild(inner);
        }
        if (x && x.dead) li.className = "dead";
        inner.appendChild(x ? pictureOf(x.picture) : pictureOf({ src: null, alt: "not run in point " + p.name }, "not run"));
        inner.appendChild(cap);
        list.appendChild(li);
      });
      section.hidden = false;
      document.getElementById("f" + f).classList.add("focus");
      section.scrollIntoView({ block: "start" });
    }
    window.addEventListener("hashchange", focus);
    focus();
    jumpTo(function (n) {
      if (!seen[n]) return false;
      if (location.hash === "#f" + n) focus();
      else location.hash = "f" + n;
      return true;
    });
  }

  // A per-layer number as the pages print it (html.fmt: 4 significant digits, ints as they are, — for none).
  function fmt(v) {
    if (v === null || v === undefined) return "\u2014";
    if (Number.isInteger(v)) return String(v);
    var e = Math.floor(Math.log10(Math.abs(v)));
    if (e >= -4 && e < 4) return String(+v.toPrecision(4));
    var parts = v.toExponential(3).split("e"), x = +parts[1];
    return parts[0].replace(/\.?0+$/, "") + "e" + (x < 0 ? "-" : "+") + (Math.abs(x) < 10 ? "0" : "") + Math.abs(x);
  }

  // The sweep's table of points holds one per-layer number; the others are in #stats (rows[point][number][layer]).
  function sweepTable(table, metric, data) {
    function show() {
      var k = data.fields.indexOf(metric.value);
      table.querySelectorAll("thead th.layer small").forEach(function (s) { s.textContent = data.labels[k]; });
      Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) {
        var values = data.rows[+tr.dataset.i][k];
        tr.querySelectorAll("td.layer").forEach(function (td, j) {
          td.textContent = fmt(values[j]);
          if (values[j] === null) td.removeAttribute("data-v");
          else td.setAttribute("data-v", values[j]);
        });
      });
    }
    metric.addEventListener("change", show);
    if (metric.selectedIndex > 0) show();  // a reload that kept another choice
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

  // A filter page's toggle (CSS alone does the showing): remember it, so that walking from filter to filter keeps
  // the image with or without its transparency.
  function alphaToggle(box) {
    try {
      var kept = localStorage.getItem("jaxviz-opaque");
      if (kept !== null) box.checked = kept === "1";
    } catch (err) { return; }  // file:// pages with storage off: the toggle still works, unremembered
    box.addEventListener("change", function () {
      try { localStorage.setItem("jaxviz-opaque", box.checked ? "1" : "0"); } catch (err) { /* storage off */ }
    });
  }

  function ready() {
    var opaque = document.getElementById("opaque");
    if (opaque) alphaToggle(opaque);
    document.querySelectorAll("img:not([loading=lazy])").forEach(function (img) {
      if (img.complete && img.naturalWidth === 0) placeholder(img);
    });
    document.querySelectorAll(".js[hidden]").forEach(function (el) { el.hidden = false; });
    var rows = document.getElementById("rows"), across = document.getElementById("across");
    if (rows) layerPage(JSON.parse(rows.textContent));
    else if (across) acrossPage(across);
    else if (document.getElementById("jump")) jumpTo(function (n) {
      var row = document.getElementById("f" + n);
      if (row) row.scrollIntoView({ block: "center" });
      if (row) (row.querySelector("a") || row).focus({ preventScroll: true });
      return !!row;
    });
    document.querySelectorAll("table.sortable").forEach(sortable);
    var metric = document.getElementById("metric"), stats = document.getElementById("stats");
    if (metric && stats) sweepTable(document.getElementById("points"), metric, JSON.parse(stats.textContent));
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
