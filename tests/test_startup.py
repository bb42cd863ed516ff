"""Every command answers --help and refuses bad arguments and configs before JAX is imported (the time it takes
is a benchmark figure: scripts/benchmark.py --startup; here, that JAX stays unimported on those paths)."""

from __future__ import annotations

import pytest

from jaxviz.bench.startup_speed import CASES, measure


@pytest.mark.parametrize("entry, args, what", CASES, ids=[c[2] for c in CASES])
def test_help_and_bad_input_never_import_jax(tmp_path, entry, args, what):
    (tmp_path / "bad.toml").write_text("[ascent]\nbogus = 1\n")
    row = measure(entry, [a.format(tmp=tmp_path) for a in args], repeat=1)
    assert not row["jax_imported"], what
    if "--help" not in args:
        assert row["said"].startswith("jaxviz: error:") or "error:" in row["said"], row


def test_no_lazily_exported_name_is_hidden_by_a_submodule():
    """jaxviz.ascent exports its names lazily (PEP 562): a submodule named like one of them would replace it as
    soon as anything imported that submodule (`ascent.chunks` became the module, not the function)."""
    from pathlib import Path

    import jaxviz.ascent as ascent

    modules = {p.stem for p in Path(ascent.__file__).parent.glob("*.py")}
    assert not modules & set(ascent.__all__)
    import jaxviz.ascent.chunk_runner  # noqa: F401  (imported, as the run imports it)

    assert callable(ascent.chunks) and ascent.chunks.__module__ == "jaxviz.ascent.chunk_runner"
