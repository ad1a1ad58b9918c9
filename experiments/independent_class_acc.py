"""An independent check of a conditional GAN's class accuracy on MNIST-like data: an RBF
SVM on raw pixels (scikit-learn; nothing shared with genlab's metric classifier), trained
on the run's train split, its accuracy checked on the real test digits, then asked to
classify samples of the checkpoint drawn with labels cycling 0..9.

    python experiments/independent_class_acc.py CKPT [--data-dir ../shared/data] [--n 2000]

Run it from the repository root. Reads the run's config next to the checkpoint (as
genlab-eval does). Prints the SVM's accuracy on real test digits and on the samples.
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ckpt")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()

    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    from sklearn.svm import SVC

    from genlab.runtime.checkpoint_io import load_trained

    model, train_cfg = load_trained(args.ckpt, None)
    data_cfg = OmegaConf.to_container(train_cfg.data, resolve=True)
    data_cfg["data_dir"] = args.data_dir
    datamodule = instantiate(data_cfg)
    datamodule.setup()
    x_train, y_train = datamodule.splits["train"].tensors
    x_test, y_test = datamodule.splits["test"].tensors
    svm = SVC(C=5, gamma="scale").fit(x_train.flatten(1).numpy(), y_train.numpy())
    real = (svm.predict(x_test.flatten(1).numpy()) == y_test.numpy()).mean()
    torch.manual_seed(123)
    labels = torch.arange(args.n) % datamodule.num_classes
    model.eval()
    with torch.no_grad():
        samples = model.sample(args.n, labels)
    fake = (svm.predict(samples.flatten(1).numpy()) == labels.numpy()).mean()
    print(f"SVM accuracy on the real test split: {real:.4f}")
    print(f"SVM class accuracy of {args.n} samples: {fake:.4f}")


if __name__ == "__main__":
    main()
