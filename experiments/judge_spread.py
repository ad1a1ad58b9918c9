"""The judges' own noise against the differences they must rank: the same samples of each
checkpoint (the validation suite's own noise, so identical for every judge) scored by the
metric judges of several seeds, on the validation split, as the suite does during training.
Prints one row per (checkpoint, judge seed), each checkpoint's mean and spread over the
judges, and for each pair of checkpoints the difference under every judge.

    python experiments/judge_spread.py CKPT [CKPT ...] --seeds 0 1 2 3 4 \
        [--data-dir ../shared/data] [--cache /tmp/judges] [override ...]

Run it from the repository root; each judge is trained under the default recipe of
conf/metrics/features/classifier.yaml (the checkpoint's own run may have used another) and
cached; extra arguments are Hydra overrides of the train config's suite (e.g.
metrics.n_samples=2000). The checkpoints must share their data.
"""

from __future__ import annotations

import argparse
import statistics
import time

NAMES = ("fid_classifier", "class_acc", "classifier_acc")


def judged(model, data: dict, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """The validation suite's numbers for `model` under the judge of `seed`."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from genlab.config import config_dir

    overrides = ["metrics=default", f"metrics.features.seed={seed}", *args.overrides]
    if args.cache:
        overrides.append(f"paths.cache_dir={args.cache}")
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("train", overrides=overrides)
    suite_cfg = OmegaConf.to_container(cfg.metrics, resolve=False)
    suite_cfg["data"] = data
    suite_cfg["features"] = OmegaConf.to_container(cfg.metrics.features, resolve=True)
    suite_cfg["cache_dir"] = str(cfg.paths.cache_dir)
    suite = instantiate(suite_cfg)
    datamodule = instantiate(data)
    datamodule.setup("fit")
    suite.metrics["val"] = suite.build(datamodule, model, "val")
    values = suite.evaluate(model, stage="val")
    return {name: values[f"val/{name}"] for name in NAMES if f"val/{name}" in values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ckpts", nargs="+")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--cache", default=None, help="cache dir (default: paths.cache_dir)")
    parser.add_argument("--overrides", nargs="*", default=[])
    args = parser.parse_args()

    from omegaconf import OmegaConf

    from genlab.runtime.checkpoint_io import load_trained

    rows: dict[tuple[str, int], dict[str, float]] = {}
    for ckpt in args.ckpts:
        model, train_cfg = load_trained(ckpt, None)
        data = OmegaConf.to_container(train_cfg.data, resolve=True)
        if "data_dir" in data:
            data["data_dir"] = args.data_dir
        for seed in args.seeds:
            start = time.perf_counter()
            rows[ckpt, seed] = judged(model, data, seed, args)
            shown = "  ".join(f"{k} {v:.4f}" for k, v in rows[ckpt, seed].items())
            print(f"{ckpt} judge {seed}: {shown} ({time.perf_counter() - start:.0f} s)",
                  flush=True)
    for name in NAMES[:2]:
        scored = [c for c in args.ckpts if all(name in rows[c, s] for s in args.seeds)]
        for ckpt in scored:
            values = [rows[ckpt, s][name] for s in args.seeds]
            print(f"{name} {ckpt}: mean {statistics.mean(values):.4f} sd "
                  f"{statistics.stdev(values):.4f} range {max(values) - min(values):.4f}")
        for i, a in enumerate(scored):
            for b in scored[i + 1:]:
                diffs = [rows[a, s][name] - rows[b, s][name] for s in args.seeds]
                print(f"{name} {a} − {b}: per judge {[round(d, 4) for d in diffs]}, mean "
                      f"{statistics.mean(diffs):.4f}, same sign under every judge: "
                      f"{len({d > 0 for d in diffs}) == 1}")

if __name__ == "__main__":
    main()
