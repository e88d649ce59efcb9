import pytest
import torch

from wavedil.models import WaveNetClassifier, classifier_logmel
from wavedil.nn import LogMelFrontend, MFCCFrontend, WaveformFrontend
from wavedil.receptive_field import measure_receptive_field
from wavedil.spec import from_spec, to_spec

FRONTENDS = {
    "mulaw": lambda: WaveformFrontend(mu_law=True),
    "float": lambda: WaveformFrontend(mu_law=False),
    "logmel": lambda: LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=20),
    "mfcc": lambda: MFCCFrontend(8000, n_mfcc=13, n_mels=20),
}


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.parametrize("pooling", ["mean", "max", "attention"])
@pytest.mark.parametrize("causal", [True, False])
def test_shapes(frontend, pooling, causal):
    clf = WaveNetClassifier(5, FRONTENDS[frontend](), 8, 8, 8, dilations=[1, 2, 4],
                            causal=causal, pooling=pooling)
    audio = torch.randn(3, 1200) * 0.3
    assert clf(audio, torch.tensor([1200, 800, 400])).shape == (3, 5)
    assert clf(audio).shape == (3, 5)


def test_padding_does_not_change_a_clips_prediction():
    clf = classifier_logmel(4).eval()
    clip = torch.randn(1, 900) * 0.2
    alone = clf(clip, torch.tensor([900]))
    padded = torch.cat([clip, torch.zeros(1, 700)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 1600) * 0.2])
    together = clf(batch, torch.tensor([900, 1600]))
    # Centred convs see the zero padding near the clip's end exactly as they see the
    # zero padding of the clip alone.
    torch.testing.assert_close(together[:1], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("causal", [True, False])
def test_waveform_classifier_receptive_field_from_gradients(causal):
    clf = WaveNetClassifier(3, WaveformFrontend(mu_law=False), 6, 6, 6, kernel_size=3,
                            dilations=[1, 2, 4], causal=causal).double()

    def per_step(x):  # (1, 1, T) -> features per step before pooling
        return clf.post(clf.stack(clf.input_proj(x)).skip)

    extent = measure_receptive_field(per_step, 1, 64)
    assert extent.size == clf.receptive_field == 15
    assert (extent.future == 0) == causal


def test_spec_round_trip_and_errors():
    clf = classifier_logmel(10)
    clone = from_spec(to_spec(clf))
    assert isinstance(clone.frontend, LogMelFrontend)
    with pytest.raises(ValueError, match="pooling"):
        WaveNetClassifier(3, pooling="median")
    with pytest.raises(ValueError, match="num_classes"):
        WaveNetClassifier(1)


@pytest.mark.parametrize("body", ["context", "aspp"])
def test_dilated_bodies_plug_into_the_classifier(body):
    from wavedil.nn import ASPP1d, ContextModule
    from wavedil.receptive_field import layer_fields

    module = ContextModule(16) if body == "context" else ASPP1d(16, 24, rates=(2, 4))
    clf = WaveNetClassifier(4, LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=20),
                            residual_channels=16, skip_channels=32, body=module)
    audio, lengths = torch.randn(3, 3000), torch.tensor([3000, 2000, 900])
    audio[1, 2000:] = audio[2, 900:] = 0.0  # batch padding
    assert clf(audio, lengths).shape == (3, 4)
    # a padded clip scores as it does alone
    clf.eval()
    alone = clf(audio[2:, :900], torch.tensor([900]))
    assert torch.allclose(clf(audio, lengths)[2:], alone, atol=1e-5)
    clone = from_spec(to_spec(clf))
    assert type(clone.body) is type(module)
    if body == "context":  # the gradient-measured field equals the arithmetic one
        measured = layer_fields(clf, random_weights=True)[-1].extent.size
        assert abs(measured - clf.receptive_field) <= 1  # a Hann window's zero end tap


def test_a_body_of_the_wrong_width_is_refused():
    from wavedil.nn import ContextModule

    with pytest.raises(ValueError, match="residual_channels=16"):
        WaveNetClassifier(3, residual_channels=16, body=ContextModule(8))


@pytest.mark.parametrize("pooling", ["mean", "max", "attention"])
@pytest.mark.parametrize("kernel_size", [2, 3])
def test_a_causal_classifier_streams_chunk_by_chunk_as_it_classifies_prefixes(pooling,
                                                                              kernel_size):
    torch.manual_seed(0)
    clf = WaveNetClassifier(4, WaveformFrontend(mu_law=True), 8, 8, 8, kernel_size=kernel_size,
                            dilations=[1, 2, 4, 8, 1, 2], causal=True, pooling=pooling).eval()
    audio = torch.randn(2, 900) * 0.3
    state = clf.init_state(batch=2)
    end = 0
    with torch.no_grad():
        for size in (1, 5, 100, 333, 461):  # chunks of any length
            logits, state = clf.step(audio[:, end:end + size], state)
            end += size
            torch.testing.assert_close(logits, clf(audio[:, :end]), atol=1e-5, rtol=1e-4)
    assert state.samples == 900


@pytest.mark.parametrize(("make", "message"), [
    (lambda: WaveNetClassifier(3, LogMelFrontend(8000), 8, 8, 8, dilations=[1], causal=True),
     "waveform front end"),
    (lambda: WaveNetClassifier(3, WaveformFrontend(), 8, 8, 8, dilations=[1]), "causal"),
    (lambda: WaveNetClassifier(3, WaveformFrontend(), 8, 8, 8, dilations=[1], causal=True,
                               separable=True), "direct"),
])
def test_classifiers_that_cannot_stream_say_why(make, message):
    with pytest.raises(ValueError, match=message):
        make().init_state()
