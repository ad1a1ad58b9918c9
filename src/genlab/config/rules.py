"""The config's cross-field rules: combinations of values that are each allowed alone but
not together (a conv net deeper than the image allows, a GAN's plateau scheduler, a metric
the model does not log). Each is a function of the resolved, plain-dict config that raises
ConfigError naming the key to change; `CROSS_RULES` is the order the pre-flight runs them
in (config/schema.py's `validate`, after each key's own check), and `check_model_rules`
runs those on a model node alone for a model built directly. Torch-free."""

from __future__ import annotations

from collections.abc import Mapping

from genlab.config.choices import (
    DCGAN_SIZES,
    DIGITS_IMAGES,
    DIGITS_SHAPE,
    METRIC_DIRECTION,
    TORCHVISION_DATASETS,
)
from genlab.errors import ConfigError

NATIVE_SIZE = {name: shape[-1] for name, (_, shape, _, _) in TORCHVISION_DATASETS.items()}


def data_image_side(data: Mapping) -> int | None:
    """The image side the data module will produce, or None for non-image data."""
    target = str(data.get("_target_", ""))
    if target.endswith("DigitsDataModule"):
        return DIGITS_SHAPE[-1]
    if target.endswith("TorchvisionDataModule"):
        return data.get("image_size") or NATIVE_SIZE.get(data.get("dataset"), 0)
    if target.endswith("ImageFolderDataModule"):
        return data.get("image_size")
    return None


def _check_nets_fit_data(cfg: Mapping) -> None:
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    side = data_image_side(data)
    name = data.get("name", "this data")
    for part in ("encoder", "decoder", "generator", "discriminator"):
        net = model.get(part) or {}
        target = str(net.get("_target_", ""))
        image_net = ".conv." in target or ".dcgan." in target
        if image_net and side is None:
            raise ConfigError(f"model.{part}._target_", target, "an MLP net for non-image data",
                              f"`{name}` is not image data; use model=vae or model=toy_gan.")
        if ".toy." in target and side is not None:
            raise ConfigError(f"model.{part}._target_", target, "an image net for image data",
                              f"`{name}` holds images; use model=dcgan or model=cgan.")
        stages = len(net.get("channels") or [])
        if ".conv." in target and side and side % 2**stages:
            raise ConfigError(f"model.{part}.channels", net.get("channels"),
                              f"a list whose length k has {side} divisible by 2**k "
                              f"({name} images are {side}×{side})")
        if ".dcgan." in target and side not in DCGAN_SIZES:
            raise ConfigError("data.image_size", side,
                              f"{', '.join(map(str, DCGAN_SIZES))} for the DCGAN nets",
                              "Use data.image_size=32 (MNIST pads by 2 pixels).")


def _check_likelihood(cfg: Mapping) -> None:
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    if str(model.get("_target_", "")).endswith(".VAE") and data_image_side(data) is None:
        raise ConfigError("data", data.get("name"), "image data for the VAE (its decoder "
                          "models pixels in [0, 1])", "Use data=digits, mnist, cifar10, ...")
    if model.get("likelihood") == "gaussian" and model.get("binarize"):
        raise ConfigError("model.binarize", True, "false with likelihood=gaussian",
                          "Binarisation belongs to the Bernoulli likelihood.")


def _check_metric_direction(cfg: Mapping) -> None:
    metric, mode = cfg.get("optimized_metric"), cfg.get("optimized_mode")
    better = METRIC_DIRECTION.get(str(metric).rsplit("/", 1)[-1].split("_classifier")[0])
    if metric and better and mode != better:
        raise ConfigError("optimized_mode", mode, f"{better} for {metric}",
                          f"Higher is better for {metric}." if better == "max"
                          else f"Lower is better for {metric}.")


SUITE_METRICS = ("fid", "kid", "is", "precision", "recall", "class_acc")


def _check_metric_is_logged(cfg: Mapping) -> None:
    metric = str(cfg.get("optimized_metric") or "")
    base = metric.rsplit("/", 1)[-1].split("_classifier")[0]
    if base in SUITE_METRICS and not (cfg.get("metrics") or {}).get("_target_"):
        raise ConfigError("optimized_metric", metric, "a metric this run logs",
                          "metrics=none turns the sample-quality suite off: keep metrics=default "
                          "or choose another optimized_metric (null keeps the last checkpoint).")


def _check_devices(cfg: Mapping) -> None:
    devices = (cfg.get("trainer") or {}).get("devices", 1)
    ok = devices == "auto" or (isinstance(devices, int) and not isinstance(devices, bool)
                               and (devices >= 1 or devices == -1))
    ok = ok or (isinstance(devices, list) and all(isinstance(d, int) and d >= 0 for d in devices))
    if not ok:
        raise ConfigError("trainer.devices", devices,
                          "an integer ≥ 1, -1 (all), 'auto' or a list of device indices")


def _check_digits_split(cfg: Mapping) -> None:
    data = cfg.get("data") or {}
    if str(data.get("_target_", "")).endswith("DigitsDataModule"):
        held_out = (data.get("val_size") or 0) + (data.get("test_size") or 0)
        if held_out >= DIGITS_IMAGES:
            raise ConfigError("data.val_size + data.test_size", held_out,
                              f"below {DIGITS_IMAGES} (the digits set has "
                              f"{DIGITS_IMAGES:,} images)")


def _check_selection_split(cfg: Mapping) -> None:
    """Model selection sees validation numbers only: the checkpoint, the value a sweep
    optimises and a plateau scheduler must never be chosen with the test split."""
    metric = str(cfg.get("optimized_metric") or "")
    if metric.startswith("test/"):
        raise ConfigError("optimized_metric", metric, "a val/… (or train/…) metric, or null",
                          "The test split is evaluated once, at the end; choosing checkpoints "
                          f"or sweep trials on it would report a number picked with it. Use "
                          f"`val/{metric.removeprefix('test/')}`.")


def _check_suite_counts(cfg: Mapping) -> None:
    suite = cfg.get("metrics") or {}
    if not suite.get("_target_"):
        return
    n, k = suite.get("n_samples"), suite.get("prc_neighborhood")
    key = "metrics.n_samples"
    if n is None:  # as many as the reference split, at least min_samples
        n, key = suite.get("min_samples"), "metrics.min_samples"
    if isinstance(n, int) and isinstance(k, int) and k >= n:
        raise ConfigError("metrics.prc_neighborhood", k,
                          f"an integer in [1, {n - 1}] (below {key} = {n})")


def known_split_sizes(data: Mapping) -> dict[str, tuple[str, int]]:
    """The reference splits whose size the config alone fixes: split → (key, images).
    (MNIST's test split and an image folder's splits are known once the files are read;
    genlab/callbacks/sample_quality.py checks those when the data is loaded.)"""
    target = str(data.get("_target_", ""))
    sizes = {}
    if target.endswith("DigitsDataModule") or target.endswith("TorchvisionDataModule"):
        sizes["val"] = ("data.val_size", data.get("val_size"))
    if target.endswith("DigitsDataModule"):
        sizes["test"] = ("data.test_size", data.get("test_size"))
    return {split: (key, n) for split, (key, n) in sizes.items() if isinstance(n, int)}


def _check_suite_reference(cfg: Mapping) -> None:
    """The suite compares with ≥ 2 real images of each reference split (FID's covariance,
    KID's subsets) and with at most as many as the split holds."""
    suite = cfg.get("metrics") or {}
    if not suite.get("_target_") or data_image_side(cfg.get("data") or {}) is None:
        return
    sizes = known_split_sizes(cfg.get("data") or {})
    for split, (key, n) in sizes.items():
        if n < 2:
            raise ConfigError(key, n, "an integer ≥ 2 with the metric suite on",
                              f"FID and KID compare with the {split} split's images; "
                              "metrics=none runs without them.")
    n_reference = suite.get("n_reference")
    if sizes and isinstance(n_reference, int):
        small = min(n for _, n in sizes.values())
        if n_reference > small:
            raise ConfigError("metrics.n_reference", n_reference,
                              f"an integer in [2, {small}] or null (all images of the split)",
                              "The suite compares with the val split during training and "
                              "the test split at test; both must hold n_reference images.")


def _check_class_grid(cfg: Mapping) -> None:
    grid = (cfg.get("callbacks") or {}).get("class_grid") or {}
    model = cfg.get("model") or {}
    per_class, noise = grid.get("per_class"), model.get("fixed_noise_size")
    if (grid.get("_target_") and model.get("conditional") and isinstance(per_class, int)
            and isinstance(noise, int) and per_class > noise):
        raise ConfigError("callbacks.class_grid.per_class", per_class,
                          f"an integer in [1, {noise}] (model.fixed_noise_size)",
                          "Each column of the grid is one of the model's fixed noise vectors.")


def _check_gan_pack(cfg: Mapping) -> None:
    model = cfg.get("model") or {}
    pack = model.get("pack")
    if model.get("conditional") and isinstance(pack, int) and pack > 1:
        raise ConfigError("model.pack", pack, "1 for conditional models",
                          "PacGAN packs samples of different labels; use model=dcgan to pack.")


def _check_gan_scheduler(cfg: Mapping) -> None:
    """The GAN steps its players' schedulers itself, without a metric (genlab/models/gan.py)."""
    model = cfg.get("model") or {}
    scheduler = model.get("scheduler") or {}
    if (str(model.get("_target_", "")).endswith("models.gan.GAN")
            and str(scheduler.get("_target_", "")).endswith("ReduceLROnPlateau")):
        raise ConfigError("model.scheduler", scheduler["_target_"],
                          "a scheduler stepped without a metric (e.g. model/scheduler=cosine)",
                          "The GAN steps each player's scheduler itself, per epoch or step.")


def _check_gan_step_budget(cfg: Mapping) -> None:
    """A GAN steps each player's per-step scheduler per *that player's* step, while
    trainer.max_steps counts both players' steps (a batch with a D and a G step counts 2):
    a cosine spanning max_steps (conf/model/scheduler/cosine.yaml, max_epochs=-1) would stop
    halfway down. Refused, saying what works."""
    model, trainer = cfg.get("model") or {}, cfg.get("trainer") or {}
    scheduler = model.get("scheduler") or {}
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps")
    if (str(model.get("_target_", "")).endswith("models.gan.GAN")
            and scheduler.get("interval") == "step" and (max_epochs is None or max_epochs < 0)
            and isinstance(max_steps, int) and max_steps > 0
            and scheduler.get("T_max") == max_steps):
        d_steps = model.get("d_steps", 1)
        raise ConfigError("model.scheduler.T_max", max_steps,
                          "the number of steps each player makes",
                          f"trainer.max_steps={max_steps} counts D and G steps together: "
                          f"with model.d_steps={d_steps} D makes about "
                          f"{max_steps * d_steps // (d_steps + 1)} and G about "
                          f"{max_steps // (d_steps + 1)}, so one cosine cannot span both. "
                          "Bound the run by trainer.max_epochs (the cosine then spans "
                          "epochs), or set model.scheduler.T_max yourself.")


def check_model_rules(model: Mapping) -> None:
    """The cross-field rules on a model node alone, for a model built directly (a notebook):
    the same functions the pre-flight runs on the whole config."""
    for rule in (_check_gan_pack, _check_gan_scheduler):
        rule({"model": model})


def _check_fused_clipping(cfg: Mapping) -> None:
    """Lightning refuses to clip the gradients of an optimizer that unscales them inside its
    own step (a fused Adam) under 16-bit mixed precision; say so before training. A GAN's
    per-player `model.clip_d` / `clip_g` clip through the same plugin."""
    trainer, model = cfg.get("trainer") or {}, cfg.get("model") or {}
    clips = {"trainer.gradient_clip_val": trainer.get("gradient_clip_val"),
             "model.clip_d": model.get("clip_d"), "model.clip_g": model.get("clip_g")}
    clip_key, clip = next(((k, v) for k, v in clips.items() if v), (None, None))
    if str(trainer.get("precision")) not in ("16-mixed", "16") or not clip:
        return
    for key in ("optimizer", "optimizer_g", "optimizer_d"):
        if (model.get(key) or {}).get("fused"):
            raise ConfigError(f"model.{key}.fused", True, "false (or null)",
                              f"trainer.precision={trainer['precision']} with "
                              f"{clip_key}={clip} cannot clip a fused "
                              "optimizer's gradients (Lightning's AMP plugin); set "
                              f"model.{key}.fused=false or {clip_key}=null.")


def _check_manual_optimization(cfg: Mapping) -> None:
    """A GAN steps its two players itself (manual optimisation, genlab/models/gan.py), and
    Lightning cannot accumulate for it: refused here, before the data is prepared, instead
    of by Lightning's validator at fit. (Its other such option, gradient_clip_val, the GAN
    takes as model.clip_d / clip_g.)"""
    model, trainer = cfg.get("model") or {}, cfg.get("trainer") or {}
    accumulate = trainer.get("accumulate_grad_batches", 1)
    if str(model.get("_target_", "")).endswith("models.gan.GAN") and accumulate != 1:
        raise ConfigError("trainer.accumulate_grad_batches", accumulate,
                          "1 for GANs (model=dcgan|cgan|toy_gan)",
                          "A GAN makes its D and G steps itself every batch (manual "
                          "optimisation), which Lightning cannot accumulate; raise "
                          "data.batch_size instead (and the learning rates with it).")


CROSS_RULES = [_check_fused_clipping, _check_manual_optimization, _check_selection_split,
               _check_gan_pack, _check_gan_scheduler, _check_gan_step_budget,
               _check_suite_counts, _check_suite_reference, _check_class_grid,
               _check_devices, _check_nets_fit_data, _check_likelihood, _check_metric_direction,
               _check_metric_is_logged, _check_digits_split]


