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
