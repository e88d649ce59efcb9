"""wavedil-receptive-field end to end: from configs and from a checkpoint."""

from __future__ import annotations

import json

import pytest

from tests.conftest import save_checkpoint
from wavedil.cli.receptive_field import main
from wavedil.data import DataInfo
from wavedil.models import WaveNet


def run_json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_generator_checkpoint_fields_double_per_layer(tmp_path, capsys):
    net = WaveNet(8, 8, 8, dilations=[1, 2, 4, 8, 16])
    ckpt = save_checkpoint(net, DataInfo(sample_rate=16000), tmp_path / "g.ckpt")
    report = run_json(capsys, ["--checkpoint", str(ckpt), "--out", str(tmp_path / "g.png"),
                               "--random-weights"])
    sizes = [layer["samples"] for layer in report["layers"]]
    assert sizes == [2, 4, 8, 16, 32, 32]  # 5 layers and the output
    assert report["receptive_field"] == 32
    assert report["receptive_field_ms"] == pytest.approx(2.0)  # 32 samples at 16 kHz
    assert all(layer["future"] == 0 for layer in report["layers"])
    assert (tmp_path / "g.png").stat().st_size > 5000


@pytest.mark.parametrize("model", ["classifier_context", "classifier_aspp"])
def test_classifier_presets_from_configs(model, tmp_path, capsys):
    png = tmp_path / f"{model}.png"
    report = run_json(capsys, ["experiment=synthetic_classifier", f"model={model}",
                               "--out", str(png)])
    layers = report["layers"]
    assert report["random_weights"] is True
    if model == "classifier_context":  # the exponential growth, then the 1x1 and output
        sizes = [layer["samples"] for layer in layers]
        assert sizes == sorted(sizes) and sizes[5] - sizes[4] == 2 * (sizes[4] - sizes[3])
        assert abs(sizes[-1] - report["receptive_field"]) <= 1
    else:  # the pooled branch: the output sees the whole input
        pooled = next(layer for layer in layers if layer["name"] == "body.pooled")
        assert layers[-1]["samples"] == pooled["samples"] > report["receptive_field"]
    assert png.is_file()


def test_table_output_and_errors(tmp_path, capsys):
    assert main(["experiment=synthetic_classifier", "model=classifier", "--out",
                 str(tmp_path / "w.png")]) == 0
    out = capsys.readouterr().out
    assert "receptive_field (arithmetic)" in out and "stack.blocks.0.conv" in out
    assert main(["--checkpoint", str(tmp_path / "missing.ckpt")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["model=no_such_model"]) == 2
    assert "no_such_model" in capsys.readouterr().err
    assert main(["experiment=fsdd_classifier"]) == 2  # data.root is required
    assert "data.root" in capsys.readouterr().err
