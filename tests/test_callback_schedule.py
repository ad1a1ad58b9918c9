"""callbacks/schedule.py: the one epoch gate of every periodic callback, on real tiny
Lightning trainers bounded by max_epochs, max_steps (whole and cut-short epochs, one and
several optimizer steps per batch), both, and sparse validation."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from genlab.callbacks.schedule import epoch_due, final_epoch

BATCHES = 4  # training batches per epoch


class _Regression(L.LightningModule):
    """One linear layer, one optimizer step per batch (automatic optimisation)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.net(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx) -> None:
        self.log("val/loss", self.net(batch[0]).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class _TwoPlayers(_Regression):
    """A GAN's stepping (models/gan/module.py): manual optimisation, one D step every batch and a
    G step every second batch, so 6 optimizer steps (Lightning's global_step) per 4 batches."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.other = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx) -> None:
        opt_g, opt_d = self.optimizers()
        players = [(opt_d, self.net)] + ([(opt_g, self.other)] if batch_idx % 2 else [])
        for opt, net in players:
            opt.zero_grad()
            self.manual_backward(net(batch[0]).pow(2).mean())
            opt.step()

    def configure_optimizers(self):
        return (torch.optim.SGD(self.other.parameters(), lr=0.01),
                torch.optim.SGD(self.net.parameters(), lr=0.01))


class _Probe(L.Callback):
    """Records, per hook, the epochs it ran in, the ones the gate calls final and the ones
    it calls due every 2 epochs."""

    def __init__(self) -> None:
        self.seen = {"val": [], "train": []}
        self.final = {"val": [], "train": []}
        self.due = {"val": [], "train": []}

    def _record(self, trainer: L.Trainer, hook: str) -> None:
        if trainer.sanity_checking:
            assert not epoch_due(trainer, 1)
            return
        self.seen[hook].append(trainer.current_epoch)
        if final_epoch(trainer):
            self.final[hook].append(trainer.current_epoch)
        if epoch_due(trainer, 2):
            self.due[hook].append(trainer.current_epoch)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._record(trainer, "val")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._record(trainer, "train")


def _fit(tmp_path: Path, module: L.LightningModule | None = None, **bounds) -> _Probe:
    data = TensorDataset(torch.randn(BATCHES * 2, 2))
    probe = _Probe()
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path, callbacks=[probe], **bounds)
    trainer.fit(module or _Regression(), DataLoader(data, batch_size=2),
                DataLoader(data, batch_size=4))
    return probe


# (bounds, epochs validated, epochs trained, last validation, last epoch end,
#  due every 2 at validation)
CASES = {
    # max_epochs only: the 5th epoch is the last
    "max_epochs": ({"max_epochs": 5}, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [4], [4], [1, 3, 4]),
    # max_steps only (Lightning reports max_epochs = -1): 12 steps = 3 whole epochs; the
    # old `(max_epochs or 0)` gate called every epoch the last (due at 0, 1, 2)
    "max_steps": ({"max_steps": 12}, [0, 1, 2], [0, 1, 2], [2], [2], [1, 2]),
    # max_steps cutting the 3rd epoch short: Lightning does not validate it, so the 2nd
    # epoch's validation is the last one, while the 3rd epoch still ends
    "max_steps_mid_epoch": ({"max_steps": 10}, [0, 1], [0, 1, 2], [1], [2], [1]),
    # both bounds: whichever comes first
    "both_epochs_first": ({"max_epochs": 3, "max_steps": 100}, [0, 1, 2], [0, 1, 2], [2],
                          [2], [1, 2]),
    "both_steps_first": ({"max_epochs": 10, "max_steps": 8}, [0, 1], [0, 1], [1], [1], [1]),
    # validation every 3rd epoch: epoch 6 (the 7th) is the last validated one of 8
    "sparse_validation": ({"max_epochs": 8, "check_val_every_n_epoch": 3}, [2, 5],
                          [0, 1, 2, 3, 4, 5, 6, 7], [5], [7], [5]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_gate_on_a_real_trainer(case: str, tmp_path: Path) -> None:
    """Rules out a gate that reads only max_epochs (every epoch "last" under max_steps:
    Lightning's -1), one that predicts the last validation from max_steps without knowing
    that a cut-short epoch is not validated (no final suite run at all), and one that
    takes the last epoch for the last validation when validation is sparse."""
    bounds, validated, trained, last_val, last_end, due_val = CASES[case]
    probe = _fit(tmp_path, **bounds)
    assert probe.seen == {"val": validated, "train": trained}  # what Lightning does
    assert probe.final == {"val": last_val, "train": last_end}
    assert probe.due["val"] == due_val


@pytest.mark.parametrize(("max_steps", "validated", "last_val", "last_end"), [
    (18, [0, 1, 2], [2], [2]),  # 6 steps per epoch: 3 whole epochs, the 3rd validated
    (17, [0, 1, 2], [2], [2]),  # max_steps is passed inside the 3rd epoch's last batch
    (16, [0, 1], [1], [2]),     # the 3rd epoch stops before its last batch
    (15, [0, 1], [1], [2]),     # ... after 2 of its 4 batches
])
def test_gate_counts_optimizer_steps_of_a_gan(max_steps: int, validated: list[int],
                                              last_val: list[int], last_end: list[int],
                                              tmp_path: Path) -> None:
    """max_steps counts optimizer steps, 1.5 per batch here, and Lightning checks it between
    batches. Rules out a gate that compares max_steps with batches (epochs ×
    num_training_batches finds no last epoch in 3 epochs of 4 batches for max_steps=18),
    one that assumes one step per batch when predicting whether the next epoch is
    validated (wrong at 16), and one that asks whether the next epoch *ends* within
    max_steps rather than whether its last batch starts below it (wrong at 17)."""
    probe = _fit(tmp_path, _TwoPlayers(), max_steps=max_steps)
    assert probe.seen["val"] == validated
    assert probe.final == {"val": last_val, "train": last_end}


def test_grids_follow_the_gate_under_max_steps(compose_cfg, tmp_path: Path) -> None:
    """The image grids of a max_steps run are written every N epochs and at the last one,
    not every epoch (issue 26: `(max_epochs or 0)` with Lightning's max_epochs = -1)."""
    from genlab.cli.train import run

    cfg = compose_cfg("data=digits", "model=vae", "trainer.max_epochs=null",
                      "trainer.max_steps=52", "data.batch_size=256",  # 5 batches an epoch
                      "callbacks.samples.every_n_epochs=4",
                      "callbacks.reconstructions.every_n_epochs=4",
                      "model.iwae_samples=0")
    run(cfg)
    images = sorted(p.name for p in (tmp_path / "run" / "images").glob("samples_epoch*.png"))
    # 52 steps of 5 per epoch: epochs 0-9 whole, the 11th cut short (not validated)
    assert images == ["samples_epoch003.png", "samples_epoch007.png", "samples_epoch009.png"]
