"""The classifier benchmark runs end to end and reports what it promises."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_classifier_bench_prints_its_four_json_lines(fsdd_root):
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "classifier.py"), "--data-root", str(fsdd_root),
         "--quick", "data.tts=null", "trainer.max_epochs=3"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    lines = {row["bench"]: row for row in map(json.loads, out.splitlines())}
    assert list(lines) == ["data", "train", "inference", "fold"]
    assert lines["data"]["batch_size"] == 32
    assert lines["data"]["augment_speedup_from_cached_kernels"] > 0
    assert lines["train"]["ms_per_step"] > 0
    assert 0 < lines["train"]["frontend_share_of_step"] < 1
    assert lines["inference"]["three_speeds_cost"] > 1  # three forward passes, not one
    # no synthetic voices: 4 speakers x 500 real clips, 63 batches of 32, 3 epochs
    assert lines["fold"]["training_clips"] == 2000
    assert lines["fold"]["steps"] == 3 * 63


def test_classifier_bench_names_a_missing_dataset(tmp_path):
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "classifier.py"), "--data-root", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 2 and "recordings/" in run.stderr
