"""The study's configuration is one documented `dvc exp run -S ...` away, and it builds offline."""

from __future__ import annotations

import re

import torch
import yaml

from pcbforge.config import Params
from pcbforge.train.model import build_model, model_config
from tests.helpers.params import REPO_ROOT


def _documented_overrides() -> dict[str, str]:
    text = (REPO_ROOT / "docs" / "training.md").read_text()
    block = text[text.index("## The study's configuration"):]
    cmd = re.search(r"dvc exp run (.*?)\n```", block, re.S).group(1).replace("\\\n", " ")
    return dict(kv.split("=", 1) for kv in re.findall(r"-S (\S+)", cmd))


def test_the_documented_command_gives_the_study_configuration_and_it_builds_offline() -> None:
    over = _documented_overrides()
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    for key, value in over.items():
        section, name = key.split(".")
        raw[section][name] = yaml.safe_load(value)
    tp = Params.model_validate(raw).train
    assert (tp.backbone, tp.pretrained.value, tp.embedding_dim, tp.margin, tp.lr, tp.batch_size, tp.input_size) == (
        "mobilenetv3_large_100", "none", 512, 0.2, 0.01, 64, 128)
    # no weights to fetch: the architecture alone, from random initialisation
    net = build_model(model_config(tp.backbone, tp.embedding_dim, tp.input_size, tp.pretrained.value)).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 128, 128)).shape == (1, 512)
