"""What the command-line tools share (:mod:`wavedil.cli.common`): paths expanded and
failures counted the same way, outputs checked before any work, one-line errors."""

from __future__ import annotations

import pytest

from wavedil.cli.common import UsageError, check_outputs, count_failures, expand_paths, run_cli


def test_expand_paths_and_count_failures(tmp_path):
    audio = tmp_path / "audio"
    (audio / "sub").mkdir(parents=True)
    for name in ("b.wav", "a.FLAC", "sub/c.ogg", "notes.txt"):
        (audio / name).write_bytes(b"")
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing.wav"
    paths = expand_paths([audio, empty, missing])
    assert paths == [audio / "a.FLAC", audio / "b.wav", audio / "sub" / "c.ogg", empty, missing]
    what = "could not be classified"
    assert count_failures(paths, [missing], what) == "1 of 4 files could not be classified"
    assert count_failures(paths, [empty], what) == "1 folder held no audio files"
    assert (count_failures(paths, [audio / "b.wav", missing, empty], what)
            == "2 of 4 files could not be classified; 1 folder held no audio files")
    assert count_failures([missing], [missing], what) == "1 of 1 file could not be classified"
    assert count_failures(paths, [], what) == ""



def test_check_outputs_refuses_what_would_be_lost(tmp_path):
    out = tmp_path / "out"
    check_outputs(out, [out / "a.wav", out / "b.wav"], overwrite=False)
    assert out.is_dir()  # created before any work
    (out / "a.wav").write_bytes(b"old")
    with pytest.raises(UsageError, match=r"a\.wav already exist.*--overwrite"):
        check_outputs(out, [out / "a.wav", out / "b.wav"], overwrite=False)
    check_outputs(out, [out / "a.wav"], overwrite=True)
    with pytest.raises(UsageError, match="same output"):
        check_outputs(out, [out / "c.wav", out / "sub" / ".." / "c.wav"], overwrite=True)
    with pytest.raises(UsageError, match="Refusing to overwrite the input"):
        check_outputs(out, [out / "a.wav"], overwrite=True, protected=[out / "a.wav"])
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(UsageError, match="is a file; expected a folder"):
        check_outputs(afile, [afile / "a.wav"], overwrite=True)
    assert (out / "a.wav").read_bytes() == b"old"  # nothing was touched


def test_run_cli_turns_input_errors_into_one_line(capsys):
    def missing() -> int:
        raise FileNotFoundError("Checkpoint not found: x.ckpt")

    assert run_cli("wavedil-x", missing) == 2
    assert capsys.readouterr().err == "wavedil-x: error: Checkpoint not found: x.ckpt\n"
    assert run_cli("wavedil-x", lambda: None) == 0
    assert run_cli("wavedil-x", lambda: 1) == 1

    def bug() -> int:
        raise KeyError("a bug keeps its traceback")

    with pytest.raises(KeyError):
        run_cli("wavedil-x", bug)
