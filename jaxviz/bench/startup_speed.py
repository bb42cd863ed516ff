"""How fast every command answers --help and refuses bad input: before JAX is imported, in about a second.

Each case runs the installed entry point's function in a new interpreter (as a user's shell would start it),
`repeat` times; the figure is the median wall time, and the case also reports whether JAX was imported by then
(it must not be: importing JAX alone takes 3-10 s on a small CPU). Printed as a table, or JSON lines.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (entry point as "module:function", its arguments, what the case is). {tmp} is a scratch folder.
CASES = [
    ("jaxviz.cli.visualize:main", ["--help"], "visualize --help"),
    ("jaxviz.cli.visualize:main", ["--bogus"], "visualize, unknown flag"),
    ("jaxviz.cli.visualize:main", ["--layers", "block9_conv1"], "visualize, unknown layer"),
    ("jaxviz.cli.visualize:main", ["--set", "ascent.optimizer=adamx"], "visualize, bad config value"),
    ("jaxviz.cli.visualize:main", ["--config", "{tmp}/bad.toml"], "visualize, config with an unknown key"),
    ("jaxviz.cli.sweep:main", ["--help"], "sweep --help"),
    ("jaxviz.cli.sweep:main", ["--config", "{tmp}/bad.toml"], "sweep, config with an unknown key"),
    ("jaxviz.cli.convert:main", ["--help"], "convert-weights --help"),
    ("jaxviz.cli.benchmark:main", ["--help"], "benchmark --help"),
    ("jaxviz.cli.benchmark:main", ["--layer", "block9_conv1"], "benchmark, unknown layer"),
    ("jaxviz.cli.benchmark:main", ["--size", "5"], "benchmark, image too small"),
    ("jaxviz.cli.benchmark:main", ["--examples", "{tmp}/none"], "benchmark --examples, no folder"),
    ("jaxviz.cli.benchmark_sweep:main", ["--help"], "benchmark-sweep --help"),
    ("jaxviz.cli.benchmark_sweep:main", ["--points", "ten"], "benchmark-sweep, bad --points"),
    ("jaxviz.cli.compare:main", ["--help"], "compare --help"),
    ("jaxviz.cli.compare:main", ["--presets", "nope"], "compare, unknown preset"),
    ("jaxviz.cli.compare:main", ["--out", ""], "compare, empty --out"),
    ("jaxviz.cli.compare:main", ["--costs", "--size", "5"], "compare --costs, image too small"),
    ("jaxviz.cli.examples:main", ["--help"], "examples --help"),
    ("jaxviz.cli.examples:main", ["--images", "{tmp}", "--layers", "nope"], "examples, unknown layer"),
    ("jaxviz.cli.atlas:main", ["--help"], "atlas --help"),
    ("jaxviz.cli.atlas:main", ["{tmp}/none"], "atlas, not a directory"),
    ("jaxviz.devicecheck:main", ["--help"], "device-check --help"),
]

# Runs one case in a fresh interpreter; prints whether JAX was imported by the time the command returned.
_CHILD = """
import importlib, sys
module, _, name = sys.argv[1].partition(":")
main = getattr(importlib.import_module(module), name)
try:
    main(sys.argv[2:])
except SystemExit:
    pass
print("JAX_IMPORTED=" + str("jax" in sys.modules), file=sys.__stderr__)
"""


def measure(entry: str, args: list[str], repeat: int = 3) -> dict:
    """{"seconds": median wall time of `repeat` fresh runs, "jax_imported": bool, "exit_lines": its stderr's
    last line} for the entry point `entry` ("module:function") with `args`."""
    times, imported, last = [], False, ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", _CHILD, entry, *args], capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        imported |= "JAX_IMPORTED=True" in p.stderr
        lines = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("JAX_IMPORTED=")]
        last = lines[-1] if lines else ""
    return {"seconds": round(statistics.median(times), 3), "jax_imported": imported, "said": last[:100]}


def run(repeat: int = 3, as_json: bool = False) -> list[dict]:
    """Every case of CASES measured and printed (a table, or JSON lines with `as_json`); returns the rows."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bad.toml").write_text("[ascent]\nbogus = 1\n")
        if not as_json:
            print(f"{'case':<40} {'median s':>8}  JAX imported")
        for entry, args, what in CASES:
            row = {"case": what, **measure(entry, [a.format(tmp=tmp) for a in args], repeat)}
            rows.append(row)
            print(
                json.dumps(row) if as_json else f"{what:<40} {row['seconds']:>8.2f}  {row['jax_imported']}", flush=True
            )
    return rows
