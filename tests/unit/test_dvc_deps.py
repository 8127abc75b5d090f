"""dvc.yaml lists, for every stage, each pcbforge module the stage imports.

A module missing from a stage's deps means a code change there would not re-run the stage
and `dvc repro` would report stale outputs as up to date (dvc.yaml's header states the rule).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.helpers.params import REPO_ROOT

SRC = REPO_ROOT / "src"
#: Only validate params or word errors (see dvc.yaml's header): deliberately not deps.
EXEMPT = {"pcbforge/config.py", "pcbforge/errors.py", "pcbforge/cli.py"}
#: Imported only by options the DVC command does not pass (``review --launch/--pull``);
#: they talk to FiftyOne and never change the stage's outputs.
OPTION_ONLY = {"review": {"pcbforge/clean/fiftyone_review.py", "pcbforge/fiftyone_app.py"}}
STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imports(path: Path) -> set[str]:
    """Absolute names of the pcbforge modules ``path`` imports (top level and inside functions)."""
    pkg = ".".join(path.relative_to(SRC).with_suffix("").parts)
    if path.name != "__init__.py":
        pkg = pkg.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return {n for n in names if n.split(".")[0] == "pcbforge"}


def _closure(start: Path) -> set[Path]:
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.relative_to(SRC).as_posix() in EXEMPT:
            continue  # what config.py imports to validate params is not a dep through it
        for name in _imports(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # a package's __init__ runs too
                f = _module_file(".".join(parts[:i]))
                if f is not None:
                    todo.append(f)
    return seen


def _inert(path: Path) -> bool:
    """A package ``__init__`` holding only a docstring and constants cannot change an output."""
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(
        isinstance(n, (ast.Expr, ast.Assign)) and isinstance(getattr(n, "value", None), ast.Constant) for n in body
    )


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_cover_its_imports(stage: str) -> None:
    deps = [d for d in STAGES[stage].get("deps", []) if d.startswith("src/")]
    missing = []
    for f in sorted(_closure(SRC / "pcbforge" / "pipelines" / f"{stage}.py")):
        rel = f.relative_to(SRC).as_posix()
        if rel in EXEMPT or rel in OPTION_ONLY.get(stage, ()) or _inert(f):
            continue
        if not any(f"src/{rel}" == d or f"src/{rel}".startswith(d.rstrip("/") + "/") for d in deps):
            missing.append(f"src/{rel}")
    assert not missing, f"dvc.yaml stage {stage!r} imports but does not list: {missing}"


def test_crop_depends_on_the_boards_it_reads() -> None:
    """``crop.boards: null`` reads the catalog's boards; a folder of its own must be the dep instead,
    and with ``crop.sources`` every source's path (a data.yaml file: its folder) is a dep.

    DVC templates a null as the text ``None``, so dvc.yaml cannot name ``${crop.boards}`` then.
    """
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    crop = raw["crop"]
    deps = [d.split("#")[0].strip() for d in STAGES["crop"]["deps"]]
    if crop.get("sources"):
        for i, source in enumerate(crop["sources"]):
            path = str(source["path"])
            folder = path.rsplit("/", 1)[0] if path.endswith((".yaml", ".yml")) else path
            names = {path, folder, f"${{crop.sources[{i}].path}}"}
            if path == f"{raw['catalog']['out']}/boards":  # the built-in boards, named as for crop.boards: null
                names.add("${catalog.out}/boards")
            assert names & set(deps), f"crop.sources[{i}] {path} is not a crop dep"
        return
    expected = "${catalog.out}/boards" if crop["boards"] is None else "${crop.boards}"
    assert expected in deps
