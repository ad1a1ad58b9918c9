r"""How far FID and KID in the judge's feature space can be trusted with small reference sets
(issue 26, items 2 and 4). Three measurements, each printing a markdown table:

    # (a) real vs real, in a run's data and judge: FID/KID of the first n images of one
    #     random half of all real images (the reference) against the whole other half (the
    #     "generated" set), R halvings; in the judge's features and in their channel means
    python experiments/reference_protocol.py real logs/issue26/runs/dcgan_digits \
        --sizes 90 180 360 898
    python experiments/reference_protocol.py real logs/issue26/runs/dcgan_mnist_ema \
        --sizes 250 500 1000 2500

    # (b, c) selection: every checkpoint a run saved (train it with
    #     callbacks.model_checkpoint.save_top_k=-1) scored by the validation suite on suite
    #     seed 0 (the values its selection saw), the run's best also on seeds 1..S-1:
    #     noise = std over seeds, spread = std over the checkpoints, and the best-vs-next gap;
    #     in the judge's features and their channel means (the same samples)
    python experiments/reference_protocol.py select logs/issue26/runs/dcgan_digits

    # (b, c) for presets that select on the model's own validation metric (the VAEs'
    #     val/elbo, the toy GANs' val/hq_ratio): the values selection saw are the run's
    #     csv/metrics.csv; noise = std of the best checkpoint's validation over seeds 0..S-1
    #     (its ε draws, or its generator's noise), spread = std over the logged epochs
    python experiments/reference_protocol.py validate logs/issue26/runs/vae_digits

    # item 4: the EMA generator's BatchNorm statistics as averaged vs recalibrated (the
    #     best checkpoint of a run trained with model.ema_batchnorm=averaged, val and test
    #     FID on suite seeds 0..S-1)
    python experiments/reference_protocol.py ema logs/issue26/runs/dcgan_digits_ema

Run from the repository root (relative cache and data paths of the run's config resolve
there). `--n-samples` overrides the generated images per evaluation (default: the run's
metrics.n_samples). The suite is the run's own (its config_resolved.yaml), so the judge and
the cached reference features are the ones the run used.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from pathlib import Path

import torch


def fid_kid(reference: torch.Tensor, generated: torch.Tensor,
            kid_subset_size: int = 1000) -> tuple[float, float]:
    """FID and KID (mean over 100 subsets) of features (N, D) vs (M, D), computed by the same
    torchmetrics objects as the suite (genlab/metrics/suite.py)."""
    from torchmetrics.image import FrechetInceptionDistance, KernelInceptionDistance

    from genlab.metrics.suite import PrecomputedFeatures

    dim = reference.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fid = FrechetInceptionDistance(PrecomputedFeatures(dim))
        kid = KernelInceptionDistance(PrecomputedFeatures(dim), subsets=100, subset_size=max(
            2, min(kid_subset_size, len(reference), len(generated))))
        for metric in (fid, kid):
            metric.update(reference.double(), real=True)
            metric.update(generated.double(), real=False)
        torch.manual_seed(0)
        return float(fid.compute()), float(kid.compute()[0])


def channel_means(features: torch.Tensor, cells: int) -> torch.Tensor:
    """The judge's features (B, C·g²) averaged over their g² spatial cells → (B, C): its last
    conv maps globally average-pooled (what net.feature_grid=1 would give: 64-d, not 256)."""
    return features.reshape(len(features), -1, cells).mean(-1)


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


# --- (a) real vs real -------------------------------------------------------------------------
def real_vs_real(args: argparse.Namespace) -> None:
    from genlab.callbacks.sample_quality import extract, reference_images

    datamodule, suite = load_suite(Path(args.run), None)
    extractor = suite.build_extractor(datamodule)
    pool = torch.cat([torch.from_numpy(extract(
        extractor, reference_images(datamodule, split, None), 500, torch.device("cpu")))
        for split in ("train", "val", "test")])
    half = len(pool) // 2
    print(f"{Path(args.run).name}'s data and judge: {len(pool)} real images, {args.repeats} "
          f"random halvings; reference = first n of one half, generated = the other half "
          f"({len(pool) - half})")
    print("| features | n reference | rank of its covariance | FID real vs real "
          "| KID real vs real |")
    print("|---|---|---|---|---|")
    cells = extractor.classifier.net.feature_grid ** 2
    for features in (pool, channel_means(pool, cells)):
        dim = features.shape[1]
        for n in args.sizes:
            fids, kids = [], []
            for r in range(args.repeats):
                order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(r))
                fid, kid = fid_kid(features[order[:half]][:n], features[order[half:]])
                fids.append(fid)
                kids.append(kid)
            print(f"| {dim}-d | {n} | {min(n - 1, dim)} | {mean_std(fids)} | {mean_std(kids)} |",
                  flush=True)


# --- a run's suite on its checkpoints ---------------------------------------------------------
def load_suite(run: Path, n_samples: int | None):
    """(datamodule, the run's SampleQuality callback) from its config_resolved.yaml."""
    from omegaconf import OmegaConf

    from genlab.config.instantiate import instantiate

    cfg = OmegaConf.load(run / "config_resolved.yaml")
    datamodule = instantiate(OmegaConf.to_container(cfg.data, resolve=True))
    suite = instantiate(OmegaConf.to_container(cfg.metrics, resolve=True), _recursive_=False)
    if n_samples is not None:
        suite.n_samples = n_samples
    return datamodule, suite


def score(suite, datamodule, model, stage: str, seed: int) -> dict[str, float]:
    """The suite's values for `stage` on suite seed `seed` (labels and noise follow it)."""
    suite.seed = seed
    suite.metrics[stage] = suite.build(datamodule, model, stage)
    return suite.evaluate(model, stage=stage)


def checkpoints(run: Path) -> list[Path]:
    return sorted((run / "checkpoints").glob("best-epoch*.ckpt"))


def best_checkpoint(run: Path) -> Path:
    """The checkpoint the run selected (its metrics.json)."""
    import json

    return Path(json.loads((run / "metrics.json").read_text())["best_checkpoint"])


class RecordingJudge(torch.nn.Module):
    """The judge, keeping the features of every batch it sees (to score the same samples
    in the channel-means space without generating and judging them again)."""

    def __init__(self, judge: torch.nn.Module) -> None:
        super().__init__()
        self.judge, self.seen = judge, []
        for key in ("name", "metric_suffix", "num_features", "num_logits", "identity"):
            setattr(self, key, getattr(judge, key))

    def accuracy(self, split: str, datamodule) -> float:
        return self.judge.accuracy(split, datamodule)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, logits = self.judge(x)
        self.seen.append(features.detach())
        return features, logits


def score_both(suite, datamodule, model, seed: int, cells: int) -> dict[str, float]:
    """Validation FID/KID in the judge's features and in their channel means, on the same
    samples (suite seed `seed`)."""
    suite.extractor.seen = []
    values = score(suite, datamodule, model, "val", seed)
    reference = suite.metrics["val"].prc.reference  # the whole reference split's features
    fid, kid = fid_kid(channel_means(reference, cells),
                       channel_means(torch.cat(suite.extractor.seen), cells))
    return {"FID": values["val/fid_classifier"], "KID": values["val/kid_classifier"],
            "FID channel means": fid, "KID channel means": kid}


def logged_values(run: Path) -> dict[str, dict[str, float]]:
    """{checkpoint name: {"FID", "KID"}} of every suite epoch in the run's csv/metrics.csv
    (suite seed 0: what selected; the same numbers `score` gives on seed 0)."""
    import csv

    rows = csv.DictReader((run / "csv" / "metrics.csv").open())
    return {f"best-epoch{int(r['epoch']):03d}.ckpt": {
        "FID": float(r["val/fid_classifier"]), "KID": float(r["val/kid_classifier"])}
        for r in rows if r.get("val/fid_classifier")}


def select(args: argparse.Namespace) -> None:
    """Every saved checkpoint on suite seed 0 (what the run's selection saw: the values
    equal its csv/metrics.csv), the best one also on seeds 1..S-1."""
    from genlab.runtime.checkpoint_io import load_trained

    run = Path(args.run)
    datamodule, suite = load_suite(run, args.n_samples)
    judge = suite.build_extractor(datamodule)
    suite.extractor = RecordingJudge(judge)
    cells = judge.classifier.net.feature_grid ** 2
    best = best_checkpoint(run).name
    seed0 = logged_values(run) if args.from_csv else {}
    for ckpt in checkpoints(run) if not args.from_csv else []:
        model, _ = load_trained(str(ckpt))
        seed0[ckpt.name] = score_both(suite, datamodule, model, 0, cells)
        print(ckpt.name, seed0[ckpt.name], flush=True)
    model, _ = load_trained(str(best_checkpoint(run)))
    noise = [seed0[best] if not args.from_csv else score_both(suite, datamodule, model, 0, cells)]
    noise += [score_both(suite, datamodule, model, s, cells) for s in range(1, args.seeds)]
    print("seeds:", noise, flush=True)
    print(f"\n{run.name}: {len(seed0)} checkpoints, {suite.stage_samples['val']} samples; "
          f"noise on {best} over suite seeds 0..{args.seeds - 1}")
    print("| metric | values per checkpoint (seed 0) | noise (std over seeds) | spread (std "
          "over checkpoints) | noise / spread | best − next best | noise / gap |")
    print("|---|---|---|---|---|---|---|")
    for name in seed0[best]:  # (only FID and KID with --from-csv)
        values = [v[name] for v in seed0.values()]
        ranked = sorted(values)
        sd = statistics.stdev(v[name] for v in noise)
        spread, gap = statistics.stdev(values), ranked[1] - ranked[0]
        print(f"| {name} | {', '.join(f'{v:.4g}' for v in values)} | {sd:.3g} | {spread:.3g} "
              f"| {sd / spread:.3f} | {gap:.3g} | {sd / gap:.2f} |")


# --- (b, c) for a metric of the model's own validation step ---------------------------------
def validate(args: argparse.Namespace) -> None:
    """The run's optimized_metric as logged every epoch (what selection saw) against the
    best checkpoint's validation repeated on evaluation seeds 0..S-1 (Lightning's validate,
    the run's data, no callbacks: the metric is the model's own)."""
    import csv
    import json

    import lightning as L
    from omegaconf import OmegaConf

    from genlab.config.choices import METRIC_DIRECTION
    from genlab.config.instantiate import instantiate
    from genlab.runtime.checkpoint_io import load_trained

    run = Path(args.run)
    cfg = OmegaConf.load(run / "config_resolved.yaml")
    metric = cfg.optimized_metric
    maximise = METRIC_DIRECTION.get(metric.split("/")[-1]) == "max"
    rows = csv.DictReader((run / "csv" / "metrics.csv").open())
    logged = {int(r["epoch"]): float(r[metric]) for r in rows if r.get(metric)}
    best = Path(json.loads((run / "metrics.json").read_text())["best_checkpoint"])
    datamodule = instantiate(OmegaConf.to_container(cfg.data, resolve=True))
    # Evaluation noise is drawn from seeds fixed by stage and batch, and the VAE binarises
    # val images by a fixed draw (models/eval_noise.py: every epoch on common random
    # numbers); "seed s" moves all of them by s × 100,003 (s = 0: the run's own draws).
    from genlab.models.eval_noise import moved_draws

    model, _ = load_trained(str(best))
    noise = []
    for seed in range(args.seeds):
        L.seed_everything(seed, verbose=False)
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, callbacks=[],
                            enable_progress_bar=False, enable_model_summary=False,
                            enable_checkpointing=False)
        with moved_draws(100_003 * seed):
            trainer.validate(model, datamodule=datamodule, verbose=False)
        noise.append(float(trainer.callback_metrics[metric]))
    values = list(logged.values())
    ranked = sorted(values, reverse=maximise)
    sd, spread = statistics.stdev(noise), statistics.stdev(values)
    gap = abs(ranked[0] - ranked[1])
    print(f"{run.name}: {metric} ({'max' if maximise else 'min'}), {len(values)} logged "
          f"epochs; noise on {best.name} over seeds 0..{args.seeds - 1}: "
          f"{', '.join(f'{v:.5g}' for v in noise)}")
    print("| metric | logged epochs | best, next best | noise (std over seeds) "
          "| spread (std over epochs) | noise / spread | best − next best | noise / gap |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {metric} | {len(values)} | {ranked[0]:.5g}, {ranked[1]:.5g} | {sd:.3g} "
          f"| {spread:.3g} | {sd / spread:.4f} | {gap:.3g} | {sd / gap:.2f} |")


# --- item 4: the EMA generator's BatchNorm statistics ------------------------------------------
def ema(args: argparse.Namespace) -> None:
    from genlab.runtime.checkpoint_io import load_trained

    run = Path(args.run)
    datamodule, suite = load_suite(run, args.n_samples)
    print(f"{run.name}: FID_classifier, suite seeds 0..{args.seeds - 1}")
    print("| checkpoint | EMA BatchNorm statistics | val FID (seed 0) | val FID (seeds) "
          "| test FID (seed 0) | test FID (seeds) |")
    print("|---|---|---|---|---|---|")
    for ckpt in [Path(args.ckpt)] if args.ckpt else [best_checkpoint(run)]:
        for stats in ("averaged", "recalibrated"):
            model, _ = load_trained(str(ckpt))
            if model.hparams.ema_batchnorm != "averaged":  # its buffers are no averages
                raise SystemExit(f"{run} was trained with model.ema_batchnorm="
                                 f"{model.hparams.ema_batchnorm}; retrain it with averaged")
            if stats == "recalibrated":
                model.recalibrate_ema()
            val, test = ([score(suite, datamodule, model, stage, s)[f"{stage}/fid_classifier"]
                          for s in range(args.seeds)] for stage in ("val", "test"))
            print(f"| {ckpt.name} | {stats} | {val[0]:.3f} | {mean_std(val)} | {test[0]:.3f} "
                  f"| {mean_std(test)} |", flush=True)
    print(f"samples per evaluation: {suite.stage_samples['val']} (val), "
          f"{suite.stage_samples['test']} (test)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("real", help="split-half real-vs-real FID and KID")
    p.add_argument("run", help="a run directory: its data and its judge")
    p.add_argument("--sizes", nargs="+", type=int, default=[90, 180, 360, 898])
    p.add_argument("--repeats", type=int, default=10)
    p.set_defaults(func=real_vs_real)
    for name, func, help_ in (("select", select, "noise vs spread of a run's checkpoints"),
                              ("validate", validate, "the same for the model's own "
                               "validation metric (val/elbo, val/hq_ratio)"),
                              ("ema", ema, "averaged vs recalibrated EMA BatchNorm stats")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("run", help="a run directory (logs/<task>/runs/<id>)")
        p.add_argument("--seeds", type=int, default=5, help=(
            "evaluation seeds 0..S-1 (moved by s × 100,003)" if name == "validate"
            else "suite seeds 0..S-1"))
        if name != "validate":
            p.add_argument("--n-samples", type=int, default=None)
        if name == "select":
            p.add_argument("--from-csv", action="store_true", help="seed-0 values of every "
                           "checkpoint from the run's csv/metrics.csv (FID and KID only)")
        if name == "ema":
            p.add_argument("--ckpt", default=None, help="default: the run's best")
        p.set_defaults(func=func)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
