import pytest
import torch
import torchaudio.functional as AF

from wavedil.data import functional
from wavedil.data.functional import resample


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_resample_matches_torchaudio_bit_for_bit(dtype):
    audio = torch.randn(3, 1234, generator=torch.Generator().manual_seed(0), dtype=dtype)
    for orig, new in [(85, 100), (118, 100), (100, 93), (44100, 8000), (8000, 16000)]:
        ours = resample(audio, orig, new)
        assert ours.dtype == dtype
        assert torch.equal(ours, AF.resample(audio, orig, new)), (orig, new)
    assert resample(audio, 100, 100) is audio


def test_resample_builds_each_kernel_once():
    functional._resampler.cache_clear()
    audio = torch.randn(800)
    for _ in range(3):
        resample(audio, 91, 100)
        resample(audio[:500], 91, 100)
    resample(audio.double(), 91, 100)  # another dtype: its own kernel
    info = functional._resampler.cache_info()
    assert (info.misses, info.hits) == (2, 5)
