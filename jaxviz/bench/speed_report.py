"""The benchmark's figures as text: one layer's report, the network's table (header, a row per layer, total)."""

from __future__ import annotations


def _title(r: dict, what: str, extra: str) -> str:
    preset = f", preset {r['preset']}" if r.get("preset") else ""
    sets = "".join(f", --set {o}" for o in r.get("overrides", ()))
    return (
        f"{r['device']} x{r['devices']}  {what} {r['size']}px {extra}  {r['precision']}, {r['weights']} weights"
        f"{preset}{sets}"
    )


def describe_method(m: dict) -> str:
    """A method as the report's header describes it (ascent_speed.describe_method's dict), e.g. "maco, nadam, 2
    crops a step at 96 px, noise 10.2, alpha"."""
    words = [m["param"], m["optimizer"]]
    if m["transforms"]:
        words.append("transforms " + " ".join(m["transforms"]))
    words.append(f"{m['crops']} crops a step at {m['fed_side']} px" if m["crops"] else f"shown at {m['fed_side']} px")
    if m["noise"]:
        words.append(f"noise {m['noise']:g}")
    if m["alpha"]:
        words.append("alpha")
    return ", ".join(words)


def _peaks(r: dict) -> str:
    """The two ceilings, as the reports name them."""
    sheet = f"datasheet {r['datasheet_peak_gflops']} GFLOP/s" if r["datasheet_peak_gflops"] else "no datasheet peak"
    return f"matmul peak {r['matmul_peak_gflops']} GFLOP/s measured, {sheet} (per device)"


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.0%}"


def format_report(r: dict) -> str:
    """The single-layer report, human-readable."""
    made = "/".join(r["choices"].values())
    lines = [_title(r, r["layer"], f"{r['filters']} filters x {r['steps']} steps, chunk {r['chunk']}, {made},")]
    lines.append(
        f"  batched:    {r['image_steps_per_s']:8.2f} image-steps/s  {r['filters_per_s']:.3f} filters/s  "
        f"compile {r['compile_s']} s" + (f"  (out of memory at {r['retries']})" if r["retries"] else "")
    )
    if "per_filter_image_steps_per_s" in r:
        lines.append(
            f"  per-filter: {r['per_filter_image_steps_per_s']:8.2f} image-steps/s  "
            f"(batched is {r['batched_speedup']}x)"
        )
    if "default" in r:  # a method other than the default, timed beside it (ascent_speed.benchmark)
        d, rounds = r["default"], r["rounds"]
        lines.insert(1, f"  method:     {describe_method(r['method'])}")
        lines.append(
            f"  default:    {d['image_steps_per_s']:8.2f} image-steps/s  compile {d['compile_s']} s  "
            f"({describe_method(d['method'])}, chunk {d['chunk']})"
        )
        lines.append(
            f"  per step:   {r['ms_per_image_step']:.3f} ms an image-step against the default's "
            f"{d['ms_per_image_step']:.3f} ms: {r['cost_vs_default']}x (faster of {len(rounds)} alternating "
            f"round{'s' if len(rounds) > 1 else ''}: "
            + ", ".join(f"{x['method']}/{x['default']}" for x in rounds)
            + " image-steps/s)"
        )
    lines.append(
        f"  useful   {r['achieved_gflops']} GFLOP/s ({r['gflop_per_image_step']} GFLOP/image-step): "
        f"{_percent(r['fraction_of_peak'])} of the measured peak, {_percent(r['fraction_of_datasheet_peak'])} of "
        f"the datasheet's"
    )
    lines.append(
        f"  executed {r['executed_gflops']} GFLOP/s ({r['xla_gflop_per_image_step']} by XLA's count): "
        f"{_percent(r['executed_fraction_of_peak'])} of the measured peak, "
        f"{_percent(r['executed_fraction_of_datasheet_peak'])} of the datasheet's"
    )
    lines.append(f"  {_peaks(r)}")
    return "\n".join(lines)


NETWORK_COLUMNS = (
    f"  {'layer':<13} {'filters':>7} {'chunk':>5} {'seconds':>9} {'filters/s':>10} {'img-steps/s':>11} "
    f"{'GFLOP/s':>8} {'peak':>5} {'sheet':>5} {'compile s':>9}"
)


def format_network_header(r: dict) -> str:
    """The network report's title and column names (before any layer is done)."""
    return "\n".join([_title(r, "all 13 layers", f"x {r['steps']} steps,") + f", {_peaks(r)}", NETWORK_COLUMNS])


def format_network_row(row: dict) -> str:
    """One layer's (or the total's) row of the network report."""
    return (
        f"  {row['layer']:<13} {row['filters']:>7} {row.get('chunk', ''):>5} {row['seconds']:>9.3f} "
        f"{row.get('filters_per_s', 0):>10.2f} {row.get('image_steps_per_s', 0):>11.2f} "
        f"{row.get('achieved_gflops', 0):>8.1f} {_percent(row.get('fraction_of_peak')):>5} "
        f"{_percent(row.get('fraction_of_datasheet_peak')):>5} {row['compile_s']:>9.2f}"
    )
