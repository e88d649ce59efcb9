"""``wavedil-train``: training without a checkout, from the configs the package ships."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import wavedil
from tests.conftest import REPO

WAVEDIL_TRAIN = [sys.executable, "-c", "from wavedil.cli.train import main; main()"]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("overrides", [[], ["experiment=fsdd_classifier"],
                                       ["experiment=fsdd_vocoder", "trainer=cpu_bf16"]])
def test_wavedil_train_composes_what_train_py_composes(overrides, tmp_path):
    installed = _run([*WAVEDIL_TRAIN, "--cfg", "job", *overrides], cwd=tmp_path)
    checkout = _run([sys.executable, "train.py", "--cfg", "job", *overrides], cwd=REPO)
    assert installed.returncode == checkout.returncode == 0, installed.stderr + checkout.stderr
    assert installed.stdout == checkout.stdout
    assert "_target_: wavedil." in installed.stdout


def test_the_package_ships_the_checkouts_configs():
    shipped = Path(wavedil.__file__).parent / "conf"
    files = sorted(p.relative_to(shipped) for p in shipped.rglob("*.yaml"))
    assert files == sorted(p.relative_to(REPO / "conf") for p in (REPO / "conf").rglob("*.yaml"))
    assert len(files) > 30
    from wavedil.cli.receptive_field import CONF_DIR
    # wavedil-receptive-field reads the package's configs, not a checkout's
    assert CONF_DIR.parent == Path(wavedil.__file__).resolve().parent
    assert CONF_DIR.resolve() == shipped.resolve()


def test_wavedil_train_runs_from_any_folder(tmp_path):
    done = _run([*WAVEDIL_TRAIN, "trainer.max_steps=3", "data.source.num_train=8",
                 "data.batch_size=4", "data.crop_length=512", "model.dilations=[1,2,4]",
                 "trainer.limit_val_batches=1", "test=false", "trainer.enable_progress_bar=false"],
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list((tmp_path / "outputs").glob("*/*/checkpoints/last.ckpt"))
    assert len(runs) == 1  # under the folder it was started from
    assert (runs[0].parent.parent / "metrics.csv").is_file()
