"""Every key the torch-free schema validates under a `_target_` is a parameter of the class
that target names (or of its base classes, when it passes **kwargs on), and every choice a
class defaults to is among the schema's choices: the schema cannot drift from the classes."""

from __future__ import annotations

import inspect

import pytest
from hydra.utils import get_object

from genlab.config.keys import declaring_classes
from genlab.config.schema import OPEN, TARGET_SCHEMAS, target_schema
from genlab.models.optim import SCHEDULE_KEYS

NO_SIGNATURE = {"datetime.timedelta"}  # a builtin: inspect cannot read its parameters
SCHEDULERS = "torch.optim.lr_scheduler."


def parameters(cls: type) -> tuple[dict[str, inspect.Parameter], bool]:
    """The keyword parameters `cls(...)` accepts, following **kwargs up the MRO, and
    whether `cls` itself takes **kwargs (a library class may hand them to another library:
    W&B's init, torch's DDP)."""
    found: dict[str, inspect.Parameter] = {}
    takes_kwargs: list[bool] = []
    for klass in inspect.getmro(cls) if inspect.isclass(cls) else [cls]:
        if klass is object or (inspect.isclass(klass) and "__init__" not in vars(klass)):
            continue
        params = inspect.signature(klass.__init__ if inspect.isclass(klass) else klass).parameters
        found.update({n: p for n, p in params.items() if n not in found})
        takes_kwargs.append(any(p.kind is p.VAR_KEYWORD for p in params.values()))
        if not takes_kwargs[-1]:
            break
    return found, bool(takes_kwargs) and takes_kwargs[0]


# the classes with rules: those that declare their keys (config/keys.py) and the table's
TARGETS = sorted({*TARGET_SCHEMAS, *declaring_classes()})


@pytest.mark.parametrize("target", sorted(set(TARGETS) - NO_SIGNATURE))
def test_schema_keys_are_parameters_of_the_class(target: str) -> None:
    params, open_ended = parameters(get_object(target))
    schema = target_schema(target)
    extra = SCHEDULE_KEYS if target.startswith(SCHEDULERS) else ()
    unknown = [k for k in schema if k != OPEN and k not in params and k not in extra]
    if OPEN in schema and open_ended:  # keys the class hands on to its library
        unknown = []
    assert not unknown, f"{target} has no parameter {unknown}"


@pytest.mark.parametrize("target", sorted(t for t in TARGETS if t.startswith("genlab.")))
def test_defaults_of_genlab_classes_are_allowed_by_the_schema(target: str) -> None:
    params, _ = parameters(get_object(target))
    for key, spec in target_schema(target).items():
        default = params[key].default if key in params else inspect.Parameter.empty
        if key != OPEN and spec.choices and default is not inspect.Parameter.empty:
            assert spec.accepts(default), f"{target}({key}={default!r}): {spec.describe()}"


def test_gan_objectives_are_the_generator_losses() -> None:
    from genlab.config.choices import GAN_OBJECTIVES
    from genlab.models.gan import GENERATOR_LOSSES

    assert tuple(GENERATOR_LOSSES) == GAN_OBJECTIVES


def test_a_class_error_names_the_key_where_the_class_was_configured(compose_cfg) -> None:
    """A ParameterError of a net names the node the model built it from: the decoder's
    refusal reads `model.decoder.channels` (the conv nets once named the encoder for both)."""
    from genlab.config.instantiate import instantiate
    from genlab.errors import ConfigError

    cfg = compose_cfg("model=conv_vae", "model.encoder.channels=[4]",
                      "model.decoder.channels=[4,8,16,32]")  # 8×8 digits: 4 stages is too many
    with pytest.raises(ConfigError) as err:
        instantiate(cfg.model, data_shape=[1, 8, 8], num_classes=10, _recursive_=False,
                    _convert_="all")
    assert err.value.key == "model.decoder.channels", err.value


