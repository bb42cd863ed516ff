"""Every fenced block of README.md and docs/*.md is run here, at small settings, so none can go stale.

What happens to a block depends on its language (the word after the opening fence):

- ``bash``/``sh``: run by bash (-e, pipefail) in a scratch directory that holds links to the checkout's
  scripts/ and configs/, a photos/ folder of four small JPEGs, and the weights under Keras' file name
  (vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5). `.venv/bin/python` is this interpreter and
  `.venv/bin/NAME` the program NAME beside it. A command that runs an ascent or dataset examples gets SMALL's
  flags appended (later flags win), so a documented whole-network run takes seconds here.
- ``python``: run in a fresh interpreter in the same scratch directory, as a reader would.
- ``toml``: parsed, then loaded as a config (jaxviz.config.load, planned, its [examples] checked) or, with a
  [sweep] table, as a sweep file (every point planned).
- ``json``: parsed.
- ``text``: output or a picture, not run. After ``<!-- synopsis -->`` it is a command's synopsis, and its
  flags must be exactly those of the command's --help.
- any other language, or none: the test fails.

Blocks of one document run in order in one scratch directory, so a later block may use what an earlier one
wrote. Every document but the README also finds there `runs/quick`, the run of the README's first command (made
once per test process, at small settings, without its atlas), so its blocks can look at a run without making one.

A block is changed or skipped only by an HTML comment on the line right before its fence:

- ``<!-- not run: REASON -->``: not run, for the REASON given (at least two words): it installs packages, starts
  a server, needs a GPU or several machines...
- ``<!-- run: DIRECTIVE; DIRECTIVE -->`` with directives
  - ``installed``: the block's ``python3 -m venv .venv && .venv/bin/pip install ... &&`` prefix is dropped (this
    environment is installed; .ci/run runs the install itself);
  - ``as-is``: no SMALL flags appended (the command is small already, or the point is its exact flags);
  - ``replace 'OLD' with 'NEW'``: a textual substitution before running (Python string literals); each must
    match, so a stale one fails;
  - ``creates PATH``: PATH, relative to the scratch directory, must exist afterwards;
  - ``prints 'TEXT'``: TEXT (a Python string literal) must be in what the block printed;
  - ``exits N``: the block must end with exit code N (a documented refusal).

Any other comment right before a fence, a marker that precedes no fence, or an unknown directive fails.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "CHANGELOG.md"]
WEIGHTS_NAME = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"

# Command (as scripts/NAME.py or jaxviz-NAME) -> flags appended to each call of it in a bash block.
SMALL_ASCENT = ["--layers", "block1_conv1", "--filters", "0:2", "--size", "32", "--steps", "2"]
SMALL = {
    "visualize": [*SMALL_ASCENT, "--set", "output.quality=off"],
    "sweep": [
        *("--set", "target.layers=block1_conv1", "--set", "target.filters=0:2", "--set", "ascent.size=32"),
        *("--set", "ascent.steps=2", "--set", "output.quality=off"),
    ],
    "examples": ["--layers", "block1_conv1", "--filters", "0:2", "--size", "32", "--top", "16"],  # one top-K program
}
CALL = re.compile(r"(?:scripts/(\w+)\.py|jaxviz-([\w-]+))(?=\s|$)")
INSTALL = re.compile(r"python3 -m venv \.venv && \.venv/bin/pip install [^&]*&& ")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
COMMENT = re.compile(r"^\s*<!--(.*?)-->\s*$")
RUN_LANGUAGES = {"bash", "sh", "python", "toml", "json"}
LANGUAGES = RUN_LANGUAGES | {"text"}
BLOCK_TIMEOUT = 300  # s: a block's commands, together


@dataclasses.dataclass
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: str | None  # the comment right before the fence, without <!-- -->

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


@dataclasses.dataclass
class Directives:
    installed: bool = False
    as_is: bool = False
    replace: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    creates: list[str] = dataclasses.field(default_factory=list)
    prints: list[str] = dataclasses.field(default_factory=list)
    exits: int = 0
    synopsis: bool = False
    skip: str = ""  # the reason a block is not run


def _closes(line: str, fence: str) -> bool:
    """Whether `line` closes a block opened by `fence`: the same character, at least as many, nothing else."""
    text = line.strip()
    return len(text) >= len(fence) and set(text) == {fence[0]}


def blocks(doc: Path) -> list[Block]:
    """Every fenced block of `doc`, with the comment right before it; AssertionError for an unclosed fence or a
    marker comment that precedes no fence."""
    lines = doc.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        marker = COMMENT.match(lines[i])
        if marker and marker.group(1).strip().split(":")[0].strip() in ("not run", "run", "synopsis"):
            nxt = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
            assert nxt, f"{doc.name}:{i + 1}: a marker comment must be right before a fence: {lines[i]}"
        if not m:
            i += 1
            continue
        indent, fence, language = m.groups()
        before = COMMENT.match(lines[i - 1]) if i else None
        body, j = [], i + 1
        while j < len(lines) and not _closes(lines[j], fence):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        assert j < len(lines), f"{doc.name}:{i + 1}: a fence that is never closed"
        out.append(Block(doc, i + 1, language, "\n".join(body) + "\n", before.group(1).strip() if before else None))
        i = j + 1
    return out


def directives(block: Block) -> Directives:
    """The block's marker parsed, or AssertionError naming what is wrong with it."""
    d = Directives()
    marker = block.marker
    if marker is None:
        return d
    if marker.startswith("not run:"):
        d.skip = marker.removeprefix("not run:").strip()
        assert len(d.skip.split()) >= 2, f"{block.where}: 'not run:' needs a reason, got {marker!r}"
        return d
    if marker == "synopsis":
        assert block.language == "text", f"{block.where}: a synopsis is a ```text block"
        d.synopsis = True
        return d
    assert marker.startswith("run:"), f"{block.where}: unknown marker {marker!r} (not run: REASON, run: ..., synopsis)"
    for part in filter(None, (p.strip() for p in marker.removeprefix("run:").split(";"))):
        if part == "installed":
            d.installed = True
        elif part == "as-is":
            d.as_is = True
        elif part.startswith("creates "):
            d.creates.append(part.removeprefix("creates ").strip())
        elif part.startswith("prints "):
            d.prints.append(ast.literal_eval(part.removeprefix("prints ").strip()))
        elif re.fullmatch(r"exits \d+", part):
            d.exits = int(part.split()[1])
        elif m := re.fullmatch(r"replace (.+?) with (.+)", part):
            d.replace.append((ast.literal_eval(m.group(1)), ast.literal_eval(m.group(2))))
        else:
            raise AssertionError(f"{block.where}: unknown directive {part!r} in {marker!r}")
    return d


def substituted(block: Block, d: Directives) -> str:
    text = block.text
    for old, new in d.replace:
        assert old in text, f"{block.where}: replace {old!r}: not in the block (a stale marker)"
        text = text.replace(old, new)
    return text


def end_of_command(line: str, start: int) -> int:
    """Where the command that starts at `start` ends: the first unquoted &&, ||, |, ;, ), or # after a space."""
    quote, depth, i = "", 0, start
    while i < len(line):
        c = line[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif c in "&|;)" or (c == "#" and line[i - 1].isspace()):
            break
        i += 1
    return len(line[:i].rstrip())


def small(line: str) -> str:
    """`line` with SMALL's flags after each call of a command that has them."""
    out, pos = "", 0
    for m in CALL.finditer(line):
        if m.start() < pos:
            continue
        name = (m.group(1) or m.group(2)).replace("-", "_")
        end = end_of_command(line, m.end())
        extra = SMALL.get(name)
        out += line[pos:end] + (" " + " ".join(extra) if extra else "")
        pos = end
    return out + line[pos:]


def bash_script(block: Block, d: Directives) -> str:
    text = substituted(block, d).replace("\\\n", " ")  # continuation lines joined: one command per line
    lines = []
    for line in text.splitlines():
        if d.installed:
            assert INSTALL.search(line), f"{block.where}: 'installed', but no install prefix in {line!r}"
            line = INSTALL.sub("", line)
        line = re.sub(r"(?<![\w/.])\.venv/bin/python\b", sys.executable, line)
        line = re.sub(r"(?<![\w/.])\.venv/bin/", str(Path(sys.executable).parent) + "/", line)
        lines.append(line if d.as_is else small(line))
    return "\n".join(lines) + "\n"


def make_scratch(path: Path, weights: Path) -> Path:
    from PIL import Image

    path.mkdir()
    for name in ("scripts", "configs"):
        (path / name).symlink_to(ROOT / name)
    (path / WEIGHTS_NAME).symlink_to(weights)
    (path / "runs").mkdir()
    (path / "photos").mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):  # smooth random colours: photo-like enough for crops, small enough to be quick
        small_image = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(small_image).resize((64, 48), Image.BILINEAR).save(path / "photos" / f"{i}.jpg")
    return path


def run_block(block: Block, d: Directives, scratch: Path, env: dict) -> None:
    if block.language in ("bash", "sh"):
        script = bash_script(block, d)
        command = ["bash", "-e", "-o", "pipefail", "-c", script]
    else:
        file = scratch / f"snippet_{block.doc.stem}_{block.line}.py"
        file.write_text(substituted(block, d))
        script, command = file.read_text(), [sys.executable, str(file)]
    p = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
    said = f"{block.where} ran:\n{script}\nexit {p.returncode}\nstdout:\n{p.stdout[-3000:]}\n"
    said += f"stderr:\n{p.stderr[-3000:]}"
    assert p.returncode == d.exits, said
    for path in d.creates:
        assert (scratch / path).exists(), f"{block.where}: {path} was not created\n{said}"
    for text in d.prints:
        assert text in p.stdout + p.stderr, f"{block.where}: {text!r} was not printed\n{said}"


def check_toml(block: Block, d: Directives, scratch: Path) -> None:
    from jaxviz import config
    from jaxviz.run import examples_stage as run_examples
    from jaxviz.run.run_plan import prepare
    from jaxviz.sweep.sweep_file import load_sweep

    text = substituted(block, d)
    file = scratch / f"snippet_{block.doc.stem}_{block.line}.toml"
    file.write_text(text)
    if "sweep" in tomllib.loads(text):
        assert load_sweep(file, scratch / "runs" / "toml-sweep").points, block.where
        return
    cfg = config.load(file)
    prepare(cfg)
    if cfg.examples.images:
        run_examples.job_for(cfg)


def help_flags(command: str, scratch: Path, env: dict) -> set[str]:
    """The flags `command --help` lists (the command as a docs block writes it)."""
    args = bash_script(Block(ROOT, 0, "bash", f"{command} --help\n", None), Directives(as_is=True)).split()
    p = subprocess.run(args, cwd=scratch, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return set(re.findall(r"(?<![\w-])--[a-z][\w-]*", p.stdout)) - {"--help"}


def check_synopsis(block: Block, scratch: Path, env: dict) -> None:
    first = block.text.split()
    command = " ".join(first[:2]) if first[0].endswith("python") else first[0]
    documented = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", block.text))
    actual = help_flags(command, scratch, env)
    assert documented == actual, (
        f"{block.where}: the synopsis of {command} lists {sorted(documented - actual)} that --help does not, and "
        f"lacks {sorted(actual - documented)}"
    )


def environment(weights: Path) -> dict[str, str]:
    return {**os.environ, "JAXVIZ_WEIGHTS": str(weights), "JAXVIZ_NO_DOWNLOAD": "1", "NO_COLOR": "1"}


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, weights_path) -> Path:
    """runs/quick as the README's first command makes it, at small settings, without its atlas (the atlas pages
    make it themselves): once per test process, copied into each document's scratch directory."""
    where = make_scratch(tmp_path_factory.mktemp("quick") / "work", weights_path)
    command = [sys.executable, "scripts/visualize.py", "--config", "configs/quick.toml", *SMALL["visualize"]]
    command += ["--set", "output.atlas=false"]
    p = subprocess.run(command, cwd=where, env=environment(weights_path), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return where / "runs" / "quick"


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_block_runs_or_says_why_not(doc, tmp_path, weights_path, monkeypatch, request):
    """The blocks of one document, in order, in one scratch directory."""
    found = blocks(doc)
    todo = []
    for block in found:
        assert block.language in LANGUAGES, (
            f"{block.where}: a ```{block.language or '(no language)'} block: give it one of {sorted(LANGUAGES)}"
        )
        d = directives(block)
        if block.language == "text" and not d.synopsis:
            assert block.marker is None, f"{block.where}: ```text is not run; drop the marker {block.marker!r}"
        todo.append((block, d))
    scratch = make_scratch(tmp_path / "work", weights_path)
    if doc.name != "README.md" and any(not directives(b).skip and b.language in ("bash", "sh") for b in found):
        shutil.copytree(request.getfixturevalue("quick_run"), scratch / "runs" / "quick", symlinks=True)
    env = environment(weights_path)
    monkeypatch.setenv("JAXVIZ_WEIGHTS", str(weights_path))
    monkeypatch.chdir(scratch)  # a toml block's relative paths are the reader's working directory
    for block, d in todo:
        if d.skip:
            continue
        if d.synopsis:
            check_synopsis(block, scratch, env)
        elif block.language == "json":
            json.loads(block.text)
        elif block.language == "toml":
            check_toml(block, d, scratch)
        elif block.language != "text":
            run_block(block, d, scratch, env)


def test_the_readme_holds_the_two_commands():
    """The main job and the tests, exactly; the test command is what .ci/run runs."""
    readme = (ROOT / "README.md").read_text()
    main = (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[tensorboard]' && .venv/bin/python scripts/visualize.py"
        " --config configs/quick.toml"
    )
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.startswith("python3 -m venv")]
    assert len(ci) == 1, ci
    assert ci[0] == "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
    commands = [b.text.strip() for b in blocks(ROOT / "README.md") if b.language == "bash"]
    assert main in commands and ci[0] in commands, commands
    assert readme.index(main) < readme.index(ci[0]) < readme.index("## What you get")


def _fields(section: type) -> dict[str, object]:
    out = {}
    for f in dataclasses.fields(section):
        out[f.name] = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return out


def test_the_configuration_page_lists_every_key_with_its_default():
    """docs/configuration.md's table against jaxviz/config/schema.py: a new key without a row fails here."""
    from jaxviz import config

    page = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+\.[a-z_0-9]+)` \| `([^`]*)` \|", page, re.M)
    documented = dict(rows)
    assert len(documented) == len(rows), "a key has two rows"
    schema = {
        f"{name}.{key}": config.toml_value(default)
        for name, section in config.sections().items()
        for key, default in _fields(section).items()
    }
    assert list(documented) == list(schema), (
        f"undocumented: {sorted(set(schema) - set(documented))}; "
        f"not in the schema: {sorted(set(documented) - set(schema))}; or the order differs from the schema's"
    )
    wrong = {k: (documented[k], schema[k]) for k in schema if documented[k] != schema[k]}
    assert not wrong, f"documented default != schema default: {wrong}"


# An inline code span that is a command line a reader would copy (a program and its arguments).
INLINE_COMMAND = re.compile(r"(\.venv/bin/|python3? |pip |srun |mpirun |gcloud |tensorboard )\S* ")


def test_commands_in_the_prose_are_blocks_too():
    """A command written inline (`...`) is run nowhere: it must also stand in a fenced block of the documents,
    where it is run or marked."""
    fenced = " ".join(" ".join(b.text.split()) for doc in DOCS for b in blocks(doc) if b.language in ("bash", "sh"))
    loose = []
    for doc in DOCS:
        prose = re.sub(r"^\s*(`{3,}|~{3,}).*?^\s*\1\s*$", "", doc.read_text(), flags=re.M | re.S)
        for span in re.findall(r"`([^`]+)`", prose.replace("\n", " ")):
            if INLINE_COMMAND.match(span) and " ".join(span.split()) not in fenced:
                loose.append(f"{doc.name}: {span}")
    assert not loose, f"commands in the prose that no block holds: {loose}"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_between_the_documents_resolve():
    """Every relative link of README.md, CHANGELOG.md and docs/*.md names a file that exists (and a heading
    that exists, for #anchors into a Markdown file); every docs page is linked from the README."""
    bad = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s): not checked here
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                bad.append(f"{doc.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", file.read_text(), re.M)
                if anchor not in {_anchor(h) for h in headings}:
                    bad.append(f"{doc.name}: {target} (no such heading)")
    assert not bad, bad
    readme = (ROOT / "README.md").read_text()
    unlinked = [p.name for p in DOCS if p.parent.name == "docs" and f"(docs/{p.name})" not in readme]
    assert not unlinked, f"README.md links no {unlinked}"
