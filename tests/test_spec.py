import pytest

from wavedil.checkpoint import CHECKPOINT_CLASSES
from wavedil.distributions import MuLawCategorical
from wavedil.models import WaveNet
from wavedil.spec import SpecError, from_spec, registered, serializable, to_spec


def test_spec_records_defaults_and_nested_objects():
    net = WaveNet(8, 8, 8, dilations=(1, 2), output=MuLawCategorical(16))
    spec = to_spec(net)
    assert spec["_target_"] == "wavedil.models.generator.WaveNet"
    assert spec["dilations"] == [1, 2]
    assert spec["output"] == {"_target_": "wavedil.distributions.categorical.MuLawCategorical",
                              "classes": 16}
    assert spec["input_encoding"] == "embedding"  # defaults are recorded too
    rebuilt = from_spec(spec)
    assert rebuilt.output.classes == 16 and rebuilt.stack.dilations == [1, 2]


def test_subclass_records_its_own_arguments():
    @serializable
    class Base:
        def __init__(self, a: int = 1) -> None:
            self.a = a

    @serializable
    class Child(Base):
        def __init__(self, b: int = 2) -> None:
            super().__init__(a=b * 10)

    assert {k: v for k, v in to_spec(Child(3)).items() if k != "_target_"} == {"b": 3}


def test_unrecordable_and_foreign_targets_are_refused():
    with pytest.raises(TypeError, match="Cannot describe object"):
        to_spec(object())
    with pytest.raises(SpecError, match="Refusing to build"):
        from_spec({"_target_": "os.system", "command": "true"})


@pytest.mark.parametrize("target", [
    "torch.hub.load", "torch.load", "torch.save", "torch.jit.load", "torch.ops.aten.empty",
    "builtins.eval", "os.system", "subprocess.run", "wavedil.checkpoint.load_model",
    "wavedil.data.sources.AudioFolder", "wavedil.spec.from_spec", "", 7,
])
def test_a_checkpoint_builds_nothing_outside_its_allow_list(target, monkeypatch):
    imported = []
    monkeypatch.setattr("importlib.import_module", lambda name: imported.append(name))
    spec = {"_target_": "wavedil.models.generator.WaveNet",
            "output": {"_target_": target, "f": "x"}}
    with pytest.raises(SpecError, match="Refusing to build"):
        from_spec(spec, CHECKPOINT_CLASSES)
    assert imported == []  # refused before anything was imported, let alone called


def test_the_allow_list_names_real_serializable_classes():
    import wavedil.models
    import wavedil.nn  # noqa: F401

    assert registered() >= CHECKPOINT_CLASSES
