"""The PyTorch loaders on fixture datasets: transform=, masks and defect parameters, missing/corrupt files by id, schema version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pcbforge.datasets.loaders import PairDataset, TripletDataset, decode_json, load_pairs, load_triplets
from pcbforge.datasets.schemas import METADATA_KEY
from pcbforge.errors import InputError
from tests.helpers.triplets_fixture import write_pairs, write_triplets


@pytest.fixture()
def triplets(tmp_path: Path) -> Path:
    return write_triplets(tmp_path / "triplets", per_class=2, kinds=("other_class", "gray_patch", "rotation", "missing"))


def test_transform_is_applied_to_every_image(triplets: Path) -> None:
    seen: list[tuple[int, int]] = []

    def transform(im: Image.Image) -> torch.Tensor:
        seen.append(im.size)
        return torch.from_numpy(np.array(im)).permute(2, 0, 1)  # uint8, no normalisation

    ds = TripletDataset(load_triplets(triplets), input_size=24, transform=transform)
    a, p, n, meta = ds[0]
    assert a.dtype == p.dtype == n.dtype == torch.uint8 and a.shape == (3, 24, 24)
    assert seen == [(24, 24)] * 3
    assert int(a.max()) > 1  # raw pixels: the default normalisation did not run


def test_masks_and_defect_params_are_returned(triplets: Path) -> None:
    frame = load_triplets(triplets)
    ds = TripletDataset(frame, input_size=32, masks=True)
    by_kind = {}
    for i in range(len(ds)):
        *_, mask, meta = ds[i]
        by_kind.setdefault(meta["negative_kind"], (mask, meta))
    patch_mask, patch_meta = by_kind["gray_patch"]
    assert patch_mask.shape == (1, 32, 32) and set(patch_mask.unique().tolist()) == {0.0, 1.0}
    assert decode_json(patch_meta["defect_params"]) == {"box": [8, 8, 16, 16]}
    # The mask covers exactly the patch the recorded params name.
    assert patch_mask[0, 8:24, 8:24].all() and patch_mask.sum() <= 16 * 16
    other_mask, other_meta = by_kind["other_class"]
    assert not other_mask.any() and other_meta["negative_class"] != other_meta["class_label"]
    # Default collate batches masks and metadata.
    a, p, n, m, meta = next(iter(DataLoader(ds, batch_size=4)))
    assert m.shape == (4, 1, 32, 32) and len(meta["defect_params"]) == 4


def test_a_missing_file_is_named_by_triplet_id_at_load(triplets: Path) -> None:
    frame = load_triplets(triplets)
    victim = frame.iloc[3]
    (triplets / victim["negative_path"]).unlink()
    with pytest.raises(InputError, match=rf"1 file\(s\).*missing: {victim['id']} \(negative_path: {victim['negative_path']}\)"):
        load_triplets(triplets)
    assert len(load_triplets(triplets, verify=False)) == len(frame)  # an explicit opt-out, never a silent skip


def test_a_corrupt_file_is_named_by_triplet_id_on_access(triplets: Path) -> None:
    frame = load_triplets(triplets)
    victim = frame.iloc[2]
    (triplets / victim["positive_path"]).write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    ds = TripletDataset(load_triplets(triplets), input_size=32)
    with pytest.raises(InputError, match=rf"triplets sample {victim['id']}: image unreadable: .*{victim['positive_path']}"):
        ds[2]


def test_a_newer_schema_version_is_refused(triplets: Path) -> None:
    path = triplets / "triplets.parquet"
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    info = json.loads(meta[METADATA_KEY])
    assert load_triplets(triplets).attrs["schema_version"] == info["schema_version"]
    meta[METADATA_KEY] = json.dumps({**info, "schema_version": info["schema_version"] + 1}).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(InputError, match="newer than this pcbforge reads"):
        load_triplets(triplets)


def test_pairs_load_with_masks_and_recipe(tmp_path: Path) -> None:
    out = tmp_path / "simulate"
    write_pairs(out, n=3, size=32)
    frame = load_pairs(out, split="test")
    assert frame["split"].tolist() == ["test"]
    template, defected, mask, meta = PairDataset(frame)[0]
    assert template.shape == defected.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
    assert mask.any() == bool(decode_json(meta["defects"]))
    assert isinstance(decode_json(meta["pose"]), dict)
    (out / frame.iloc[0]["mask_path"]).unlink()
    with pytest.raises(InputError, match=frame.iloc[0]["id"]):
        load_pairs(out)
