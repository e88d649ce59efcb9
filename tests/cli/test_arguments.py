"""The argument types the command-line tools share, and that every tool uses them:
a bad count, step size or device is refused by argparse with the option's name,
before any checkpoint or audio is read."""

from __future__ import annotations

import argparse

import pytest
import torch

from wavedil.cli import adapt, classify, evaluate, sample
from wavedil.cli.arguments import device, non_negative_float, positive_float, positive_int


@pytest.mark.parametrize("convert, good, bad", [
    (positive_int, {"1": 1, "64": 64}, ["0", "-3", "2.5", "x", ""]),
    (positive_float, {"3e-4": 3e-4, "2": 2.0}, ["0", "-1", "nan", "inf", "x"]),
    (non_negative_float, {"0": 0.0, "1.5": 1.5}, ["-0.1", "nan", "inf", "x"]),
])
def test_number_types(convert, good, bad):
    for text, value in good.items():
        assert convert(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            convert(text)


def test_device_names_what_this_machine_lacks(monkeypatch):
    assert device("cpu") == "cpu"
    with pytest.raises(argparse.ArgumentTypeError, match="unknown device 'gpu0'"):
        device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(argparse.ArgumentTypeError, match="CUDA is not available"):
        device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device("cuda") == "cuda" and device("cuda:1") == "cuda:1"
    with pytest.raises(argparse.ArgumentTypeError, match="2 CUDA device.*cuda:0 to cuda:1"):
        device("cuda:2")


@pytest.mark.parametrize("tool, args, option", [
    (classify, ["--checkpoint", "c.ckpt", "a.wav", "--top", "0"], "--top"),
    (classify, ["--checkpoint", "c.ckpt", "a.wav", "--batch-size", "-1"], "--batch-size"),
    (classify, ["--checkpoint", "c.ckpt", "a.wav", "--device", "tpu"], "--device"),
    (evaluate, ["--checkpoint", "c.ckpt", "data", "--batch-size", "0"], "--batch-size"),
    (evaluate, ["--checkpoint", "c.ckpt", "data", "--device", "tpu"], "--device"),
    (adapt, ["--checkpoint", "c.ckpt", "--out", "o.ckpt", "data", "--epochs", "0"], "--epochs"),
    (adapt, ["--checkpoint", "c.ckpt", "--out", "o.ckpt", "data", "--lr", "0"], "--lr"),
    (adapt, ["--checkpoint", "c.ckpt", "--out", "o.ckpt", "data", "--diversity", "-1"],
     "--diversity"),
    (adapt, ["--checkpoint", "c.ckpt", "--out", "o.ckpt", "data", "--device", "tpu"],
     "--device"),
    (sample, ["--checkpoint", "c.ckpt", "--samples", "0"], "--samples"),
    (sample, ["--checkpoint", "c.ckpt", "--seconds", "-1"], "--seconds"),
    (sample, ["--checkpoint", "c.ckpt", "--batch", "0"], "--batch"),
    (sample, ["--checkpoint", "c.ckpt", "--temperature", "-1"], "--temperature"),
    (sample, ["--checkpoint", "c.ckpt", "--threads", "0"], "--threads"),
    (sample, ["--checkpoint", "c.ckpt", "--device", "tpu"], "--device"),
])
def test_every_tool_refuses_bad_values_before_reading_anything(tool, args, option, capsys):
    with pytest.raises(SystemExit) as stop:
        tool.main(args)  # c.ckpt does not exist: the argument is refused first
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err and "expected" in err and "Traceback" not in err
