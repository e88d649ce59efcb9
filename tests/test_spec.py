import pytest

from wavedil.distributions import MuLawCategorical
from wavedil.models import WaveNet
from wavedil.spec import from_spec, serializable, to_spec


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
    with pytest.raises(ValueError, match="Refusing to build"):
        from_spec({"_target_": "os.system", "command": "true"})
