"""The metric judge's training recipe (conf/metrics/features/classifier.yaml): every part of
it keys the judge's cache entry, and its learning-rate schedule spans the judge's own epochs."""

from __future__ import annotations

import copy

import pytest
from omegaconf import OmegaConf

from genlab.metrics.judge import cache_entry, recipe_key


def _features(compose_cfg, *overrides: str) -> dict:
    cfg = compose_cfg("data=digits", "metrics=default", *overrides)
    return OmegaConf.to_container(cfg.metrics.features, resolve=True)


def _entry(features: dict) -> str:
    key = recipe_key({"name": "digits"}, features["model"], features["max_epochs"],
                     features["batch_size"], features["seed"])
    return cache_entry("/cache", key).name


def _variants(features: dict) -> dict[str, dict]:
    def changed(path: tuple[str, ...], value) -> dict:
        out = copy.deepcopy(features)
        node = out
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        return out

    model = features["model"]
    return {
        "shift": changed(("model", "net", "shift"), 0.0),
        "width": changed(("model", "net", "channels"), [8, 16, 32]),
        "lr": changed(("model", "optimizer", "lr"), 2 * model["optimizer"]["lr"]),
        "no schedule": changed(("model", "scheduler"), None),
        "T_max": changed(("model", "scheduler", "T_max"), model["scheduler"]["T_max"] + 1),
        "epochs": changed(("max_epochs",), features["max_epochs"] + 1),
        "batch": changed(("batch_size",), features["batch_size"] * 2),
        "seed": changed(("seed",), features["seed"] + 1),
    }


def test_every_part_of_the_recipe_moves_the_cache_entry(compose_cfg) -> None:
    """The default recipe and each one-field change of it (augmentation, width, learning
    rate, schedule, epochs, batch size, seed) get distinct entries. Rules out a key of the
    net alone or one that leaves out the schedule or training length: a judge trained
    under an old recipe would be read as the new default."""
    features = _features(compose_cfg)
    entries = {"default": _entry(features)}
    entries |= {name: _entry(variant) for name, variant in _variants(features).items()}
    assert len(set(entries.values())) == len(entries), entries
    assert all(name.startswith("digits-") for name in entries.values())


@pytest.mark.parametrize("budget", [["trainer.max_epochs=3"],
                                    ["trainer.max_epochs=-1", "trainer.max_steps=30"]])
def test_the_judge_decays_its_rate_over_its_own_epochs(compose_cfg, budget: list[str]) -> None:
    """The cosine schedule's T_max is metrics.features.max_epochs, not the generative run's
    trainer.max_epochs, and the Classifier hands it to Lightning. Rules out a schedule
    interpolated from the trainer (a 3-epoch run would restart the judge's rate every 3
    epochs; a run bounded by steps would make the judge's schedule per step) and a
    `scheduler` argument the model accepts but ignores."""
    from hydra.utils import instantiate

    features = _features(compose_cfg, "metrics.features.max_epochs=7", *budget)
    assert features["model"]["scheduler"]["T_max"] == 7
    model = instantiate(features["model"], data_shape=[1, 8, 8], num_classes=10,
                        _recursive_=False, _convert_="all")
    configured = model.configure_optimizers()
    schedule = configured["lr_scheduler"]
    assert schedule["interval"] == "epoch"
    assert schedule["scheduler"].T_max == 7
    assert schedule["scheduler"].optimizer is configured["optimizer"]


@pytest.mark.parametrize("preset", ["classifier_digits", "classifier_mnist"])
def test_standalone_presets_train_the_suites_recipe(compose_cfg, preset: str) -> None:
    """`experiment=classifier_*` trains what the suite trains (net, optimiser, schedule
    length, batch size, epochs, seed), so its reported accuracy is the judge's. Rules out
    a preset left on the old recipe when the default changes."""
    cfg = OmegaConf.to_container(compose_cfg(f"experiment={preset}"), resolve=True)
    features = _features(compose_cfg)
    assert cfg["model"]["net"] == features["model"]["net"]
    assert cfg["model"]["optimizer"] == features["model"]["optimizer"]
    assert cfg["model"]["scheduler"] == features["model"]["scheduler"]
    assert cfg["trainer"]["max_epochs"] == features["max_epochs"]
    assert cfg["data"]["batch_size"] == features["batch_size"]
    assert cfg["seed"] == features["seed"]


def test_one_cpu_thread_is_restored_even_after_an_error() -> None:
    """The judge trains on one thread and gives the caller's count back. Rules out a
    set_num_threads(1) that leaks into the generative run that built the judge, and one
    that is not undone when the judge's training fails."""
    import torch

    from genlab.metrics.judge import one_cpu_thread

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), one_cpu_thread():
            assert torch.get_num_threads() == 1
            raise RuntimeError("training failed")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_final_epoch_is_kept_and_its_validation_accuracy_recorded(compose_cfg) -> None:
    """A tiny digits judge (2 epochs): meta.json names the final epoch, and its recorded
    val_acc is the accuracy of the weights in the cache entry, recomputed. Rules out keeping
    one epoch and recording another's score (the best epoch's accuracy beside the final
    weights, or the reverse)."""
    from genlab.callbacks.sample_quality import data_key
    from genlab.config.instantiate import instantiate

    cfg = compose_cfg("data=digits", "metrics=default", "metrics.features.max_epochs=2",
                      "metrics.features.model.net.channels=[4,8,8]")
    data = OmegaConf.to_container(cfg.data, resolve=True)
    datamodule = instantiate(data)
    datamodule.setup("fit")
    judge = instantiate(OmegaConf.to_container(cfg.metrics.features, resolve=True),
                        datamodule=datamodule, data_key=data_key(data), _recursive_=False,
                        _convert_="all")
    assert judge.info["epoch"] == 1
    assert judge.info["key"]["kept"] == "final epoch"
    recomputed = judge._accuracy_on(datamodule.splits["val"])
    assert judge.info["val_acc"] == pytest.approx(recomputed, abs=1e-6)
