"""The metric judge on several seeds: trains the `classifier` feature extractor exactly as
the sample-quality suite does (conf/metrics/features/classifier.yaml: train split, final
epoch kept, cached) for each judge seed, then reads its accuracy on the
validation and test splits. Prints one row per (data, seed) and the minimum per data.

    python experiments/judge_seeds.py --data digits mnist28 mnist32 --seeds 0 1 2 3 4 \
        [--data-dir ../shared/data] [--cache /tmp/judges] [override ...]

Run it from the repository root; extra arguments are Hydra overrides of the train config
(e.g. metrics.features.max_epochs=15). mnist28/mnist32 read the shared 5,000-digit MNIST
(data.val_size=500: 3,500 train / 500 val / 1,000 test).
"""

from __future__ import annotations

import argparse
import time

DATA = {
    "digits": ["data=digits"],
    "mnist28": ["data=mnist", "data.val_size=500"],
    "mnist32": ["data=mnist", "data.val_size=500", "data.image_size=32"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--cache", default=None, help="cache dir (default: paths.cache_dir)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from genlab.callbacks.sample_quality import data_key
    from genlab.config import config_dir
    from genlab.config.instantiate import instantiate

    rows = {}
    for name in args.data:
        for seed in args.seeds:
            overrides = [*DATA[name], "metrics=default", f"metrics.features.seed={seed}",
                         f"paths.data_dir={args.data_dir}", *args.overrides]
            if args.cache:
                overrides.append(f"paths.cache_dir={args.cache}")
            with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
                cfg = compose("train", overrides=overrides)
            data = OmegaConf.to_container(cfg.data, resolve=True)
            features = OmegaConf.to_container(cfg.metrics.features, resolve=True)
            datamodule = instantiate(data)
            datamodule.setup("fit")
            start = time.perf_counter()
            judge = instantiate(features, datamodule=datamodule, data_key=data_key(data),
                                _recursive_=False, _convert_="all")
            val = judge.accuracy("val", datamodule)
            datamodule.setup("test")
            test = judge.accuracy("test", datamodule)
            seconds = time.perf_counter() - start
            rows[name, seed] = test
            print(f"{name} seed {seed}: epoch kept {judge.info.get('epoch')} "
                  f"val {val:.4f} test {test:.4f} ({seconds:.0f} s, {judge.entry.name})",
                  flush=True)
    for name in args.data:
        tests = [rows[name, s] for s in args.seeds]
        print(f"{name}: test accuracy min {min(tests):.4f} mean {sum(tests) / len(tests):.4f}"
              f" over seeds {args.seeds}")


if __name__ == "__main__":
    main()
