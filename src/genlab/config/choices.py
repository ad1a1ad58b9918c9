"""The choices and sizes the classes accept, declared once. The classes read them to check
their arguments; the torch-free schema (genlab/config/schema.py) reads the same names to
refuse a bad value before torch is imported. tests/test_config_rules.py checks that every
class the schema names has the parameters the schema validates."""

from __future__ import annotations

LIKELIHOODS = ("bernoulli", "gaussian")  # models/vae.py
GAN_OBJECTIVES = ("minimax", "non_saturating")  # models/gan/objective.py: GENERATOR_LOSSES
CONDITIONINGS = ("concat", "projection")  # models/gan/, nets/conditioning.py
EMA_BATCHNORMS = ("averaged", "recalibrated")  # models/gan/ (`ema_batchnorm`)
RESIZE_MODES = ("pad", "bilinear")  # data/torchvision_sets.py
DCGAN_SIZES = (8, 16, 32, 64)  # nets/dcgan.py: square sides, 4×4 doubled 1–4 times
RESUME_MODES = ("auto",)  # `resume=`, or null (runtime/resume.py)
FAIL_POLICIES = ("any", "all", "never")  # `sweep.fail_policy=` (sweeps/failures.py)

# name → (torchvision class name, native (C, H, W), folder under data_dir, classes):
# data/torchvision_sets.py loads them, genlab-fetch downloads them
TORCHVISION_DATASETS: dict[str, tuple[str, tuple[int, int, int], str, int]] = {
    "mnist": ("MNIST", (1, 28, 28), "MNIST", 10),
    "fashion_mnist": ("FashionMNIST", (1, 28, 28), "FashionMNIST", 10),
    "cifar10": ("CIFAR10", (3, 32, 32), "cifar-10-batches-py", 10),
}
DIGITS_SHAPE = (1, 8, 8)  # scikit-learn's digits (data/digits.py)
DIGITS_IMAGES = 1797
DIGITS_CLASSES = 10

# metric name (the last part of `stage/name`, before any `_<extractor>` suffix) → the
# direction that means "better", as torchmetrics' `higher_is_better`: read by the schema
# (optimized_mode must agree) and by the trackers (W&B keeps the best value)
METRIC_DIRECTION = {"elbo": "max", "hq_ratio": "max", "modes": "max", "class_acc": "max",
                    "precision": "max", "recall": "max", "is": "max", "nll_iwae": "min",
                    "fid": "min", "kid": "min", "reverse_kl": "min"}
