"""The benchmarks run end to end and report what they promise."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
STUDIES = REPO / "bench" / "studies"


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


def _fake_loso_run(folder: Path, speakers: list[str], seed: int) -> Path:
    """A loso=true run's layout, with untrained fold classifiers."""
    import torch

    from tests.conftest import save_checkpoint
    from wavedil.data.sources import DataInfo
    from wavedil.models import WaveNetClassifier
    from wavedil.nn import MFCCFrontend

    info = DataInfo(8000, class_names=[str(d) for d in range(10)])
    for speaker in speakers:
        torch.manual_seed(seed)
        model = WaveNetClassifier(10, MFCCFrontend(8000, n_mfcc=13), 8, 8, 8, dilations=[1, 2])
        (folder / speaker / "checkpoints").mkdir(parents=True)
        save_checkpoint(model, info, folder / speaker / "checkpoints" / "last.ckpt",
                        task="classification")
    return folder


def test_ensemble_bench_scores_members_and_ensemble_per_shared_speaker(fsdd_root, tmp_path):
    a = _fake_loso_run(tmp_path / "a" / "loso", ["lucas", "nicolas"], seed=0)
    b = _fake_loso_run(tmp_path / "b" / "loso", ["nicolas"], seed=1)
    out = subprocess.run(
        [sys.executable, str(STUDIES / "fsdd_ensemble.py"), "--runs", str(a), str(b),
         "--data-root", str(fsdd_root)],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r.get("speaker") for r in rows] == ["nicolas", None]  # the one both hold out
    nicolas, summary = rows
    assert nicolas["files"] == 500 and set(nicolas) >= {str(a), str(b), "ensemble"}
    for key in (str(a), str(b), "ensemble", "members_agree"):
        assert 0 <= nicolas[key] <= 100
    assert summary["summary"]["ensemble"] == {"mean": nicolas["ensemble"],
                                              "worst": nicolas["ensemble"]}
    lone = subprocess.run(
        [sys.executable, str(STUDIES / "fsdd_ensemble.py"), "--runs", str(a),
         "--data-root", str(fsdd_root)], capture_output=True, text=True, timeout=60)
    assert lone.returncode == 2 and "at least two loso=true runs" in lone.stderr
    empty = subprocess.run(
        [sys.executable, str(STUDIES / "fsdd_ensemble.py"), "--runs", str(a),
         str(tmp_path), "--data-root", str(fsdd_root)], capture_output=True, text=True,
        timeout=60)
    assert empty.returncode == 2 and f"no <speaker>/checkpoints/last.ckpt under {tmp_path}" \
        in empty.stderr


def test_generation_bench_reports_both_output_distributions():
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "generation.py"), "--quick", "--configs", "SMALL",
         "--batches", "1", "--outputs", "mulaw", "logistic_mixture", "--sample", "--no-memory"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["output"] for r in rows] == ["mulaw", "logistic_mixture"]
    for row in rows:
        assert row["sample"] is True and row["config"] == "SMALL" and row["batch"] == 1
        assert all(v > 0 for v in row["samples_per_s"].values())
        assert set(row["samples_per_s"]) == {"fast", "cached", "naive", "compiled"}
        assert row["ratio_compiled_vs_fast"] > 0


def test_output_distributions_bench_scores_both_outputs_on_one_scale(tmp_path):
    import torch
    from omegaconf import OmegaConf

    from tests.conftest import save_checkpoint
    from wavedil.data.sources import DataInfo
    from wavedil.distributions import DiscretizedLogisticMixture
    from wavedil.models import WaveNet

    data = {"_target_": "wavedil.data.GenerationDataModule",
            "source": {"_target_": "wavedil.data.SyntheticTones", "_partial_": True,
                       "sample_rate": 8000, "clip_length": 1000, "num_train": 8, "seed": 0},
            "root": None, "batch_size": 4, "crop_length": 500, "seed": 0}
    torch.manual_seed(0)
    models = {"mulaw": WaveNet(8, 8, 8, dilations=[1, 2]),
              "mixture": WaveNet(8, 8, 8, dilations=[1, 2], input_encoding="continuous",
                                 output=DiscretizedLogisticMixture(3))}
    for name, model in models.items():
        (tmp_path / name / "checkpoints").mkdir(parents=True)
        OmegaConf.save(OmegaConf.create({"data": data}), tmp_path / name / "config.yaml")
        save_checkpoint(model, DataInfo(8000), tmp_path / name / "checkpoints" / "last.ckpt")
    out = subprocess.run(
        [sys.executable, str(STUDIES / "output_distributions.py"), "--runs",
         str(tmp_path / "mulaw"), str(tmp_path / "mixture")],
        capture_output=True, text=True, timeout=300, check=True).stdout
    mulaw, mixture = (json.loads(line) for line in out.splitlines())
    assert (mulaw["output"], mixture["output"]) == ("MuLawCategorical",
                                                    "DiscretizedLogisticMixture")
    assert mulaw["test_samples"] == mixture["test_samples"] > 0
    # spreading a code's probability over the 16-bit values it stands for costs bits
    assert mulaw["bits_per_16_bit_sample"] > mulaw["bits_per_mu_law_code"] > 0
    assert 0 < mixture["bits_per_16_bit_sample"] < 30
    missing = subprocess.run(
        [sys.executable, str(STUDIES / "output_distributions.py"), "--runs",
         str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0 and "config.yaml" in missing.stderr


def test_training_bench_alternates_trees_and_settings_and_prints_ratios():
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "training.py"), "--quick", "--configs", "SMALL",
         "--precisions", "32-true", "bf16-mixed+checkpoint", "--repeats", "1",
         "--baseline", str(REPO)],
        capture_output=True, text=True, timeout=600, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    runs = [r["training"] for r in rows if "training" in r]
    # the baseline tree is not timed with a setting it may lack (checkpointing)
    assert [(r["tree"], r["precision"]) for r in runs] == [
        ("baseline", "32-true"), ("current", "32-true"), ("current", "bf16-mixed+checkpoint")]
    assert all(r["samples_per_s"] > 0 and r["peak_mb_over_baseline"] >= 0 for r in runs)
    summary = rows[-1]["summary"]
    assert summary["relative_to"] == "baseline/32-true"
    assert summary["ratios"]["baseline/32-true"] == {"speed": 1.0, "memory": 1.0}
    assert set(summary["ratios"]) == {"baseline/32-true", "current/32-true",
                                      "current/bf16-mixed+checkpoint"}


def test_block_layout_bench_times_two_layouts_of_the_same_block():
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "block_layout.py"), "--shape", "tones",
         "--dilations", "1", "512", "--repeats", "1", "--threads", "1"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [json.loads(line)["block_layout"] for line in out.splitlines()]
    assert [r["dilation"] for r in rows] == [1, 512]
    # the time-major block computes what the block does (it refuses to time otherwise)
    assert all(r["max_abs_difference"] < 1e-4 and r["speedup_time_major"] > 0 for r in rows)
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "block_layout.py"), "--shape", "tones",
         "--pieces", "--threads", "1"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    pieces = [json.loads(line)["block_piece"] for line in out.splitlines()]
    assert [r["piece"] for r in pieces] == ["gate", "residual 1x1", "skip 1x1"]
    assert all(r["eager_ms"] > 0 and r["ours_ms"] > 0 for r in pieces)


def _time_to_quality(*args: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "training.py"), "--time-to-quality", "tones",
         "--repeats", "1", *args, "--", "data.source.num_train=16", "data.batch_size=4",
         "trainer.max_epochs=2", "model.dilations=[1,2]", "model.residual_channels=8",
         "model.gate_channels=8", "model.skip_channels=8"],
        capture_output=True, text=True, timeout=600, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_time_to_quality_bench_times_each_precision_to_the_first_ones_final_figure():
    from wavedil.tasks.precision import resolve_precision

    rows = _time_to_quality("--precisions", "32-true", "auto")
    runs = {r["time_to_quality"]["precision"]: r["time_to_quality"] for r in rows[:2]}
    assert runs["32-true"]["resolved"] == ["32-true"]
    assert runs["auto"]["resolved"] == [resolve_precision("auto", "cpu").precision]
    # the target is float32's own final validation figure: it reaches it, at the end
    first = runs["32-true"]
    assert first["target"] == first["final"][0] and first["steps"] == [8]  # 2 x 16 / 4
    assert 0 < first["seconds_to_target"][0] <= first["fit_s"][0] < first["total_s"][0]
    assert rows[2]["summary"]["time_ratio"]["32-true"] == 1.0
    # with a baseline tree, each tree runs its own recipe in the same rounds
    never = _time_to_quality("--precisions", "32-true", "--target", "0.01",
                             "--baseline", str(REPO))
    assert [r["time_to_quality"]["precision"] for r in never[:2]] == [
        "baseline/32-true", "current/32-true"]
    assert all(r["time_to_quality"]["seconds_to_target"] == [None] for r in never[:2])
    assert never[2]["summary"]["time_ratio"] == {"baseline/32-true": None,
                                                 "current/32-true": None}


def test_keyword_spotting_bench_finds_every_word_and_draws_them(fsdd_root, tmp_path):
    import torch

    from tests.conftest import save_checkpoint
    from wavedil.data.sources import DataInfo
    from wavedil.models import WaveNetClassifier

    torch.manual_seed(0)  # untrained: the words are found all the same; labels are chance
    model = WaveNetClassifier(10, None, 8, 8, 8, dilations=[1, 2, 4])
    ckpt = save_checkpoint(model, DataInfo(8000, class_names=[str(d) for d in range(10)]),
                           tmp_path / "c.ckpt", task="classification")
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "keyword_spotting.py"), "--checkpoint", str(ckpt),
         "--data-root", str(fsdd_root), "--speaker", "lucas", "--words", "15",
         "--plot", str(tmp_path / "spot.png")],
        capture_output=True, text=True, timeout=300, check=True).stdout
    row = json.loads(out)
    assert row["words"] == row["segments"] == row["found"] == 15
    assert row["missed"] == row["split"] == row["merged"] == row["false_alarms"] == 0
    assert 0 <= row["accuracy_spotted"] <= 1 and 0 <= row["accuracy_clips"] <= 1
    assert (tmp_path / "spot.png").stat().st_size > 10_000


def test_vocoder_bench_times_batch_1_batched_and_compiled(fsdd_root, tmp_path):
    import torch

    from tests.conftest import save_checkpoint
    from tests.inference.vocoding.test_vocoder import HOP, MEL
    from wavedil.data.sources import DataInfo
    from wavedil.models import WaveNet

    torch.manual_seed(0)  # untrained: speed does not depend on training
    model = WaveNet(8, 8, 8, dilations=[1, 2, 4, 8], local_channels=MEL["n_mels"],
                    local_hop_length=HOP)
    ckpt = save_checkpoint(model, DataInfo(8000, local_features=MEL), tmp_path / "v.ckpt")
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "vocoder_quality.py"), "--checkpoint", str(ckpt),
         "--data-root", str(fsdd_root), "--speaker", "nicolas", "--limit", "4", "--speed-only",
         "--speed-files", "2", "--batch", "2", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    (line,) = out.splitlines()
    speed = json.loads(line)["speed"]
    assert speed["files"] == 2
    for key in ("real_time_factor_batch1", "real_time_factor_batch2",
                "real_time_factor_batch1_compiled", "compiled_speedup_batch1"):
        assert speed[key] > 0


def test_vocoder_bench_scores_a_parallel_vocoder_with_its_highpass_overridden(fsdd_root,
                                                                               tmp_path):
    from tests.conftest import save_checkpoint
    from tests.inference.vocoding.test_vocoder import HOP, MEL
    from wavedil.data.sources import DataInfo
    from wavedil.models import ParallelWaveNet

    torch.manual_seed(0)
    model = ParallelWaveNet(MEL["n_mels"], HOP, 8, 8, 8, dilations=[1, 2], sample_rate=8000)
    ckpt = save_checkpoint(model, DataInfo(8000, local_features=MEL), tmp_path / "p.ckpt")
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "vocoder_quality.py"), "--checkpoint", str(ckpt),
         "--data-root", str(fsdd_root), "--speaker", "nicolas", "--limit", "2", "--no-files",
         "--highpass-hz", "70", "--speed-files", "1", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    summary = json.loads(out.splitlines()[0])["summary"]
    assert summary["highpass_hz"] == 70 and summary["files"] == 2
    assert summary["vocoder"]["log_mel_distance_db"] > 0


def test_parallel_vocoder_speed_bench_builds_presets_and_variants():
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "parallel_vocoder_speed.py"), "--seconds", "0.2",
         "--repeats", "1", "--threads", "1", "--variant", "cpu=parallel_vocoder",
         "--variant", "narrow=parallel_vocoder:residual_channels=8,gate_channels=8",
         "--variant", "gpu=parallel_vocoder_gpu@22050"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    rows = {r["variant"]: r for r in map(json.loads, out.splitlines())}
    assert list(rows) == ["cpu", "narrow", "gpu"]
    assert rows["narrow"]["parameters"] < rows["cpu"]["parameters"] < rows["gpu"]["parameters"]
    assert rows["gpu"]["sample_rate"] == 22050 and rows["gpu"]["receptive_field"] == 6139
    assert all(r["real_time_factor_batch1"] > 0 for r in rows.values())


def test_vocoder_training_bench_times_train_py_without_its_start_up(fsdd_root):
    out = subprocess.run(
        [sys.executable, str(REPO / "bench" / "vocoder_training.py"), "--data-root",
         str(fsdd_root), "--preset", "plain=experiment=fsdd_vocoder model=vocoder_cpu",
         "--short", "1", "--long", "8", "--repeats", "1", "--threads", "1"],
        capture_output=True, text=True, timeout=600, check=True).stdout
    (row,) = map(json.loads, out.splitlines())
    assert row["preset"] == "plain" and row["steps_per_second"] > 0
    assert row["budget_steps"] == 18 * 250  # the preset's own epochs


def test_parallel_one_clip_study_reports_each_noise_setting_beside_griffin_lim():
    out = subprocess.run(
        [sys.executable, str(STUDIES / "parallel_one_clip.py"), "--steps", "4", "--every", "2",
         "--noise", "fresh", "fixed"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["noise"], r["step"]) for r in rows] == [("fresh", 2), ("fresh", 4), ("fixed", 2),
                                                        ("fixed", 4)]
    assert len({r["griffin_lim_log_mel_distance_db"] for r in rows}) == 1
    assert all(r["log_mel_distance_db"] > 0 and r["spectral_convergence"] > 0 for r in rows)


def test_lpc_prediction_gain_study_prints_a_line_per_setting(fsdd_root):
    out = subprocess.run(
        [sys.executable, str(STUDIES / "lpc_prediction_gain.py"), "--data-root", str(fsdd_root),
         "--every", "100", "--orders", "12"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 2 * 2 * 3  # frame settings x pre-emphasis x spectra
    gain = {(r["frames"], r["preemphasis"], r["spectrum"]): r["prediction_gain_db"] for r in rows}
    for frames in ("fine", "tts"):  # the STFT's own spectrum bounds what frames give
        assert 0 < gain[frames, 0.0, "pinv"] <= gain[frames, 0.0, "stft"] + 0.5


def test_vocoder_bands_study_scores_each_setting_beside_griffin_lim(fsdd_root, tmp_path):
    from tests.conftest import save_checkpoint
    from tests.inference.vocoding.test_vocoder import HOP, MEL
    from wavedil.data.sources import DataInfo
    from wavedil.models import WaveNet

    torch.manual_seed(0)
    model = WaveNet(8, 8, 8, dilations=[1, 2], local_channels=MEL["n_mels"], local_hop_length=HOP)
    ckpt = save_checkpoint(model, DataInfo(8000, local_features=MEL), tmp_path / "v.ckpt")
    out = subprocess.run(
        [sys.executable, str(STUDIES / "vocoder_bands.py"), "--checkpoint", str(ckpt),
         "--data-root", str(fsdd_root), "--speaker", "nicolas", "--every", "100",
         "--highpass-hz", "none", "70"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    rows = {r["method"]: r for r in map(json.loads, out.splitlines())}
    assert list(rows) == ["griffin_lim", "vocoder/highpass=none", "vocoder/highpass=70"]
    for row in rows.values():
        assert len(row["band_difference_db"]) == len(row["band_centre_hz"]) == 40
    # the high-pass takes the lowest bands down, and little else
    bands = {k: rows[k]["band_difference_db"] for k in rows}
    assert bands["vocoder/highpass=70"][0] < bands["vocoder/highpass=none"][0] - 5
    assert abs(bands["vocoder/highpass=70"][20] - bands["vocoder/highpass=none"][20]) < 1


def test_vocoder_pictures_draw_a_row_per_vocoder_and_refuse_to_overwrite(fsdd_root, tmp_path):
    from tests.conftest import save_checkpoint
    from tests.inference.vocoding.test_vocoder import HOP, MEL
    from wavedil.data.sources import DataInfo
    from wavedil.models import WaveNet

    torch.manual_seed(0)
    model = WaveNet(8, 8, 8, dilations=[1, 2], local_channels=MEL["n_mels"], local_hop_length=HOP)
    ckpt = save_checkpoint(model, DataInfo(8000, local_features=MEL), tmp_path / "v.ckpt")
    out = tmp_path / "pictures.png"
    cmd = [sys.executable, str(STUDIES / "vocoder_pictures.py"), "--data-root", str(fsdd_root),
           "--vocoder", f"a={ckpt}", "--vocoder", f"b={ckpt}:70", "--files", "0_nicolas_0",
           "3_nicolas_1", "--out", str(out)]
    subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    assert out.stat().st_size > 10_000
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "--overwrite" in again.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the check runs for minutes")
def test_the_gpu_check_says_so_and_exits_at_once_without_cuda():
    import time

    start = time.perf_counter()
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line == {"gpu_check": "skipped",
                    "reason": "no CUDA device (torch.cuda.is_available() is false)"}
    assert time.perf_counter() - start < 60
