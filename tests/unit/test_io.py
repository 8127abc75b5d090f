"""Atomic writes, staged directories, stable ids and seeded generators."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pcbforge.datasets.manifest import error_row, ok_row, read_manifest, rejected_row, to_frame, write_manifest
from pcbforge.errors import InputError
from pcbforge.io import encode_png, stable_id, staged_dir, write_bytes
from pcbforge.rng import make_rng


def test_write_bytes_leaves_no_temp_files(tmp_path: Path) -> None:
    write_bytes(tmp_path / "a" / "x.bin", b"123")
    assert (tmp_path / "a" / "x.bin").read_bytes() == b"123"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.bin"]


def test_staged_dir_keeps_old_output_when_killed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with staged_dir(out) as d:
        (d / "v").write_text("1")
    with pytest.raises(RuntimeError), staged_dir(out) as d:
        (d / "v").write_text("2")
        raise RuntimeError("killed half-way")
    assert (out / "v").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_png_bytes_are_deterministic() -> None:
    img = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    assert encode_png(img) == encode_png(img.copy())


def test_stable_id_and_rng_are_reproducible() -> None:
    assert stable_id("a", 1) == stable_id("a", 1) != stable_id("a", 2)
    a = make_rng(1, "x").random(4)
    assert np.array_equal(a, make_rng(1, "x").random(4))
    assert not np.array_equal(a, make_rng(1, "y").random(4))
    assert not np.array_equal(a, make_rng(2, "x").random(4))


def test_manifest_roundtrip_sorted_and_identical_bytes(tmp_path: Path) -> None:
    rows = [ok_row(id="b", notes="2"), rejected_row("too small", id="a", notes="1"), error_row("corrupt", id="c")]
    write_manifest(to_frame(rows), tmp_path / "m1.parquet", stage="export")
    write_manifest(to_frame(list(reversed(rows))), tmp_path / "m2.parquet", stage="export")
    assert (tmp_path / "m1.parquet").read_bytes() == (tmp_path / "m2.parquet").read_bytes()
    df = read_manifest(tmp_path / "m1.parquet", "export")
    assert df["id"].tolist() == ["a", "b", "c"]
    assert df.set_index("id").loc["a", "error"] == "too small"


def test_manifest_rejects_contract_violations(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate ids"):
        write_manifest(to_frame([ok_row(id="a"), ok_row(id="a")]), tmp_path / "m.parquet", stage="export")
    with pytest.raises(ValueError, match=r"lacks non-nullable columns \['status'\]"):
        write_manifest(pd.DataFrame({"id": ["a"]}), tmp_path / "m.parquet", stage="export")


def test_read_manifest_errors_name_the_stage(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pcbforge crawl"):
        read_manifest(tmp_path / "images.parquet", stage="crawl")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="unreadable"):
        read_manifest(tmp_path / "bad.parquet", "crawl")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    # A child process: the umask is read once, when pcbforge.io is imported.
    target = tmp_path / "sub" / "a.txt"
    code = f"from pcbforge.io import write_text; write_text({str(target)!r}, 'x')"
    subprocess.run([sys.executable, "-c", code], check=True, umask=umask, timeout=60)
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o777 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]  # no temporary file left


def test_link_or_copy_links_the_same_bytes_and_replaces_an_existing_target(tmp_path) -> None:
    from pcbforge.io import link_or_copy

    src = tmp_path / "a.png"
    src.write_bytes(b"\x89PNG one")
    dst = tmp_path / "out" / "b.png"
    dst.parent.mkdir()
    dst.write_bytes(b"stale")
    link_or_copy(src, dst)
    assert dst.read_bytes() == b"\x89PNG one"
    assert os.path.samefile(src, dst)  # one file on disk, two names
    assert sorted(p.name for p in dst.parent.iterdir()) == ["b.png"]  # no temporary left behind
