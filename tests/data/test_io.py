import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import tone, write_wav
from wavedil.data import AudioError, load_audio, read_audio, write_audio


def test_read_write_round_trip(tmp_path):
    audio = torch.from_numpy(tone())
    path = write_audio(tmp_path / "a.wav", audio, 8000)
    back, rate = read_audio(path)
    assert rate == 8000 and back.shape == (1, audio.shape[0])
    torch.testing.assert_close(back[0], audio, atol=1 / 32768 + 1e-6, rtol=0)
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


def test_stereo_is_mixed_down_and_rates_are_converted(tmp_path):
    left = tone(0.5, 16000, 440.0)
    stereo = np.stack([left, -left * 0.5], axis=1)
    path = write_wav(tmp_path / "s.wav", stereo, 16000)
    mono = load_audio(path, sample_rate=8000)
    assert mono.shape == (4000,)
    expected = torch.from_numpy(left * 0.25)[::2]
    torch.testing.assert_close(mono[200:-200], expected[200:-200], atol=0.02, rtol=0)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        read_audio(tmp_path / "nope.wav")


def test_a_folder_is_not_an_audio_file(tmp_path):
    with pytest.raises(AudioError, match="a folder with no audio files"):
        read_audio(tmp_path)
    write_wav(tmp_path / "sub" / "a.wav", tone(0.1))
    with pytest.raises(AudioError, match=r"is a folder; expected an audio file"):
        read_audio(tmp_path)


@pytest.mark.parametrize(
    "content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk", b"not audio at all" * 10]
)
def test_corrupt_or_empty_files_name_the_file(tmp_path, content):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="bad.wav"):
        read_audio(path)


def test_truncated_wav(tmp_path):
    path = write_wav(tmp_path / "t.wav", tone(1.0))
    data = path.read_bytes()
    path.write_bytes(data[:30])  # header cut in the middle
    with pytest.raises(AudioError, match="t.wav"):
        read_audio(path)


def test_zero_length_audio(tmp_path):
    path = tmp_path / "z.wav"
    sf.write(str(path), np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(AudioError, match="0 samples"):
        read_audio(path)


def test_nan_audio_is_refused(tmp_path):
    audio = tone()
    audio[100] = np.nan
    path = write_wav(tmp_path / "n.wav", audio, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or Inf"):
        read_audio(path)
