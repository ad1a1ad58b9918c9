"""Each app run on a batch of real images beside its baselines, measured: → an AppResult
whose rows are (image, method) pairs, as `<app>.npz` stores them (genlab/cli/apply.py).

Settings come as a plain mapping (the `app` config group). A judge is a map from images
(B, C, H, W) in [0, 1] to logits. A conditional GAN needs a label to invert or complete an
image: it is given the judge's class of the (masked) input, since the true one is unknown
to a user; arithmetic, whose concepts are classes, gives it the classes themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from genlab.apps import arithmetic as arith
from genlab.apps.baselines import biharmonic, mean_fill, nearest_neighbour
from genlab.apps.complete import complete, masked_input
from genlab.apps.interpolate import lerp, slerp
from genlab.apps.invert import invert, reconstruct
from genlab.apps.latent import LatentModel
from genlab.apps.masks import make_mask
from genlab.apps.measures import (
    correlation,
    hole_l1,
    hole_psnr,
    judged,
    psnr,
    slant,
    ssim,
    stroke_mass,
)
from genlab.apps.optimise import Fit

Judge = Callable[[torch.Tensor], torch.Tensor]
FIGURE_COLUMNS = 10


@dataclass
class AppResult:
    """Rows (N = images × methods): images, originals (N, C, H, W) in [0, 1], labels (N,),
    method (N names); masks (N, 1, H, W) for completion; metrics: method → name → value."""

    images: list[torch.Tensor] = field(default_factory=list)
    originals: list[torch.Tensor] = field(default_factory=list)
    labels: list[torch.Tensor] = field(default_factory=list)
    method: list[str] = field(default_factory=list)
    masks: list[torch.Tensor] = field(default_factory=list)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    figure: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    title: str = ""
    extra: dict[str, list[torch.Tensor]] = field(default_factory=dict)

    def add(self, method: str, images: torch.Tensor, originals: torch.Tensor,
            labels: torch.Tensor, masks: torch.Tensor | None = None) -> None:
        self.images.append(images.detach().float().cpu().clamp(0, 1))
        self.originals.append(originals.detach().float().cpu())
        self.labels.append(labels.cpu().long())
        self.method += [method] * len(images)
        if masks is not None:
            self.masks.append(masks.cpu())


def fit_of(app: Mapping[str, Any]) -> Fit:
    return Fit(steps=int(app["steps"]), lr=float(app["lr"]), restarts=int(app["restarts"]),
               lam=float(app["lam"]), prior=str(app.get("prior", "model")),
               norm=int(app.get("norm", 1)),
               feature_weight=float(app.get("feature_weight", 0.0)))


def _batches(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _cgan_labels(lm: LatentModel, judge: Judge, x: torch.Tensor) -> torch.Tensor | None:
    return judged(judge, x) if lm.conditional else None


def _accuracy(judge: Judge, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((judged(judge, images) == labels).float().mean())


def run_invert(lm: LatentModel, x: torch.Tensor, y: torch.Tensor, judge: Judge,
               app: Mapping[str, Any], batch_size: int, generator: torch.Generator,
               features: Judge | None = None) -> AppResult:
    """Reconstructions G(ẑ(x)): PSNR, SSIM, the judge's accuracy on them, seconds/image."""
    fit, result = fit_of(app), AppResult(title="inversion: originals, reconstructions G(z*)")
    start = time.perf_counter()
    recon = []
    for s in _batches(len(x), batch_size):
        labels = _cgan_labels(lm, judge, x[s])
        z = invert(lm, x[s], labels, fit, generator, features)
        recon.append(reconstruct(lm, z, labels))
    seconds = (time.perf_counter() - start) / len(x)
    recon = torch.cat(recon)
    result.add("model", recon, x, y)
    result.metrics["model"] = {"psnr": float(psnr(recon, x).mean()),
                               "ssim": float(ssim(recon, x).mean()),
                               "judge_acc": _accuracy(judge, recon, y),
                               "seconds_per_image": seconds}
    result.metrics["originals"] = {"judge_acc": _accuracy(judge, x, y)}
    k = min(FIGURE_COLUMNS, len(x))
    result.figure = [("original", x[:k]), ("reconstruction", recon[:k])]
    return result


def completion_methods(lm: LatentModel, x: torch.Tensor, mask: torch.Tensor, judge: Judge,
                       train: torch.Tensor, app: Mapping[str, Any], generator: torch.Generator,
                       ) -> dict[str, torch.Tensor]:
    """method → completed images (B, C, H, W), the model's first ("model"), then the
    baselines where app.baselines is true."""
    out = {"model": complete(lm, x, mask, _cgan_labels(lm, judge, masked_input(x, mask)),
                             fit_of(app), app.get("window"), generator)[0]}
    if app.get("baselines", True):
        out["mean_fill"] = mean_fill(x, mask, train.mean(0))
        out["nearest_neighbour"] = nearest_neighbour(x, mask, train)
        out["biharmonic"] = biharmonic(x, mask)
    return out


def run_complete(lm: LatentModel, x: torch.Tensor, y: torch.Tensor, judge: Judge,
                 app: Mapping[str, Any], batch_size: int, generator: torch.Generator,
                 train: torch.Tensor) -> AppResult:
    """Per method: L1 and PSNR on the hole, SSIM of the whole image, the judge's accuracy;
    the masked input's judge accuracy for reference."""
    name = app["mask"]
    mask = make_mask(name, len(x), x.shape[-2], x.shape[-1], fraction=float(app["fraction"]),
                     box=app.get("box"), generator=generator)
    done: dict[str, list[torch.Tensor]] = {}
    seconds: dict[str, float] = {}
    for s in _batches(len(x), batch_size):
        for method, images in _timed(completion_methods, seconds)(
                lm, x[s], mask[s], judge, train, app, generator).items():
            done.setdefault(method, []).append(images)
    masked = masked_input(x, mask)
    result = AppResult(title=f"completion, mask {name}: original, masked input, each method")
    result.add("masked_input", masked, x, y, mask)
    result.metrics["masked_input"] = {"judge_acc": _accuracy(judge, masked, y)}
    k = min(FIGURE_COLUMNS, len(x))
    result.figure = [("original", x[:k]), ("masked input", masked[:k])]
    for method, parts in done.items():
        images = torch.cat(parts)
        result.add(method, images, x, y, mask)
        result.metrics[method] = {"hole_l1": float(hole_l1(images, x, mask).mean()),
                                  "hole_psnr": float(hole_psnr(images, x, mask).mean()),
                                  "ssim": float(ssim(images, x).mean()),
                                  "judge_acc": _accuracy(judge, images, y)}
        result.figure.append((method, images[:k]))
    result.metrics["model"]["seconds_per_image_all_methods"] = seconds["total"] / len(x)
    return result


def _timed(fn: Callable[..., Any], seconds: dict[str, float]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args)
        seconds["total"] = seconds.get("total", 0.0) + time.perf_counter() - start
        return out
    return call


def _latents(lm: LatentModel, x: torch.Tensor, labels: torch.Tensor | None, fit: Fit,
             batch_size: int, generator: torch.Generator) -> torch.Tensor:
    return torch.cat([invert(lm, x[s], None if labels is None else labels[s], fit, generator)
                      for s in _batches(len(x), batch_size)])


def _decode(lm: LatentModel, z: torch.Tensor, labels: torch.Tensor | None,
            batch_size: int) -> torch.Tensor:
    return torch.cat([reconstruct(lm, z[s], None if labels is None else labels[s])
                      for s in _batches(len(z), batch_size)])


def run_arithmetic(lm: LatentModel, x: torch.Tensor, y: torch.Tensor, judge: Judge,
                   app: Mapping[str, Any], batch_size: int, generator: torch.Generator,
                   pool_x: torch.Tensor, pool_y: torch.Tensor, num_classes: int) -> AppResult:
    """Source (class A) → target class B: transfer accuracy (the judge says B) and style
    preservation (Pearson r of stroke mass and of slant between source and result), for the
    latent arithmetic and its baselines; for a cGAN also the label swap G(z(source), B).
    pool_x, pool_y: the exemplars (drawn from the training split) the concepts average."""
    fit, k = fit_of(app), int(app["k"])
    b = arith.other_classes(y, num_classes, generator, app.get("target_class"))
    keep = b != y
    x, y, b = x[keep], y[keep], b[keep]
    z_src = _latents(lm, x, y if lm.conditional else None, fit, batch_size, generator)
    z_pool = _latents(lm, pool_x, pool_y if lm.conditional else None, fit, batch_size, generator)
    label_b = b if lm.conditional else None
    methods: dict[str, torch.Tensor] = {}
    for name, kk in (("model", k), ("k1", 1)):
        ia = arith.exemplar_indices(pool_y, y, kk, generator)
        ib = arith.exemplar_indices(pool_y, b, kk, generator)
        shift = arith.concept_mean(z_pool, ib) - arith.concept_mean(z_pool, ia)
        methods[name] = _decode(lm, z_src + shift, label_b, batch_size)
        if name == "model":  # the baselines on the same exemplars
            pixel = arith.concept_shift(x, arith.concept_mean(pool_x, ia),
                                        arith.concept_mean(pool_x, ib))
            methods["pixel"] = pixel.clamp(0, 1)
            methods["random_direction"] = _decode(
                lm, z_src + arith.random_direction(shift, generator), label_b, batch_size)
    if lm.conditional:
        methods["label_swap"] = _decode(lm, z_src, b, batch_size)
    methods["reconstruction"] = _decode(lm, z_src, y if lm.conditional else None, batch_size)
    cols = min(FIGURE_COLUMNS, len(x))
    targets = " ".join(str(c) for c in b[:cols].tolist())
    result = AppResult(title=f"arithmetic z(source) - mean z(A) + mean z(B), k={k}; "
                             f"target classes: {targets}")
    result.add("source", x, x, b)
    result.figure = [("source", x[:cols])]
    style_src = {"mass": stroke_mass(x), "slant": slant(x)}
    for method, images in methods.items():
        result.add(method, images, x, b)
        style = {f"style_r_{key}": correlation(value, fn(images))
                 for key, value, fn in (("mass", style_src["mass"], stroke_mass),
                                        ("slant", style_src["slant"], slant))}
        result.metrics[method] = {"transfer_acc": _accuracy(judge, images, b), **style,
                                  "style_r": (style["style_r_mass"] + style["style_r_slant"]) / 2}
        result.figure.append((method, images[:cols]))
    return result


def run_interpolate(lm: LatentModel, x: torch.Tensor, y: torch.Tensor, judge: Judge,
                    app: Mapping[str, Any], batch_size: int, generator: torch.Generator,
                    ) -> AppResult:
    """Pairs (x[2i], x[2i+1]) of real images, inverted; lerp and slerp paths of `steps`
    points, and a pixel cross-fade for reference. Per method: the judge's class along each
    path (extra `path_class`), the share of inner points judged as one of the two end
    classes, and the end reconstructions' PSNR."""
    fit, steps = fit_of(app), int(app["path_steps"])
    pairs = len(x) // 2
    x0, x1, y0, y1 = x[:2 * pairs:2], x[1:2 * pairs:2], y[:2 * pairs:2], y[1:2 * pairs:2]
    l0, l1 = _cgan_labels(lm, judge, x0), _cgan_labels(lm, judge, x1)
    z0 = _latents(lm, x0, l0, fit, batch_size, generator)
    z1 = _latents(lm, x1, l1, fit, batch_size, generator)
    t = torch.linspace(0, 1, steps).view(1, -1, 1, 1, 1)
    paths = {"pixel_crossfade": (x0.unsqueeze(1) * (1 - t) + x1.unsqueeze(1) * t).flatten(0, 1)}
    for name, walk in (("lerp", lerp), ("slerp", slerp)):
        labels = None
        if lm.conditional:  # the label switches half way along the path
            labels = torch.where(torch.linspace(0, 1, steps).view(1, -1) < 0.5,
                                 l0.view(-1, 1), l1.view(-1, 1)).flatten()
        paths[name] = _decode(lm, walk(z0, z1, steps).flatten(0, 1), labels, batch_size)
    result = AppResult(title=f"interpolation between real images ({steps} steps; "
                             "rows: pairs x methods)")
    originals = torch.stack([x0, x1], 1).repeat_interleave(-(-steps // 2), 1)[:, :steps]
    for name, images in paths.items():
        classes = judged(judge, images).view(pairs, steps)
        inner = classes[:, 1:-1]
        ends = (inner == y0.view(-1, 1)) | (inner == y1.view(-1, 1))
        result.add(name, images, originals.flatten(0, 1),
                   torch.stack([y0, y1], 1).repeat_interleave(-(-steps // 2), 1)[:, :steps]
                   .flatten())
        result.extra.setdefault("path_class", []).append(classes.flatten())
        result.extra.setdefault("t", []).append(torch.linspace(0, 1, steps).repeat(pairs))
        end_images = images.view(pairs, steps, *x.shape[1:])
        result.metrics[name] = {
            "inner_judged_as_an_end": float(ends.float().mean()),
            "end_psnr": float((psnr(end_images[:, 0], x0).mean()
                               + psnr(end_images[:, -1], x1).mean()) / 2)}
    for i in range(min(3, pairs)):
        result.figure.append((f"pair {i}: ends", torch.stack([x0[i], x1[i]])))
        for name, images in paths.items():
            result.figure.append((f"pair {i}: {name}", images[i * steps:(i + 1) * steps]))
    return result
