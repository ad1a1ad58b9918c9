"""A model added from outside genlab, as one module and one YAML, trains with no edit to
genlab: a WGAN-GP (Gulrajani et al. 2017) subclassing genlab.models.gan.GAN, in a directory
on PYTHONPATH, its config in a Hydra search path (`hydra.searchpath=[file://...]`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import run_cli, run_dirs

MODULE = '''
"""WGAN-GP: the critic minimises E[D(G(z))] - E[D(x)] + λ E[(‖∇D(x̂)‖ - 1)²] on x̂ between
real and generated points; the generator minimises -E[D(G(z))]."""

import torch

from genlab.models.gan import GAN


class WGANGP(GAN):
    def __init__(self, *args, gp_weight: float = 10.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gp_weight = gp_weight

    def gradient_penalty(self, real, fake, y):
        t = torch.rand(len(real), *[1] * (real.dim() - 1), device=real.device)
        mixed = (t * real + (1 - t) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self._d(mixed, y).sum(), mixed, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def training_step(self, batch, batch_idx):
        opt_g, opt_d = self.optimizers()
        x, y = self.to_model(batch[0]), self._labels(batch[1])
        with self.toggled_optimizer(opt_d):
            with torch.no_grad():
                fake = self._g(self._noise(len(x)), y)
            d_loss = self._d(fake, y).mean() - self._d(x, y).mean()
            d_loss = d_loss + self.gp_weight * self.gradient_penalty(x, fake, y)
            self._player_step(opt_d, d_loss, "d")
        with self.toggled_optimizer(opt_g):
            g_loss = -self._d(self._g(self._noise(len(x)), y), y).mean()
            self._player_step(opt_g, g_loss, "g")
        self.log_dict({"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach()})
'''

YAML = """\
# WGAN-GP on the toy mixtures: genlab's toy GAN with another training step
defaults:
  - toy_gan
  - _self_
_target_: wgan_gp.WGANGP
name: wgan_gp
gp_weight: 10.0
"""


def test_outside_model_trains_from_one_module_and_one_yaml(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "conf" / "model").mkdir(parents=True)
    (outside / "wgan_gp.py").write_text(MODULE)
    (outside / "conf" / "model" / "wgan_gp.yaml").write_text(YAML)
    path = os.pathsep.join(filter(None, [str(outside), os.environ.get("PYTHONPATH")]))
    proc = run_cli(f"hydra.searchpath=[file://{outside / 'conf'}]", "model=wgan_gp",
                   "data=ring8", "data.train_size=512", "data.val_size=256",
                   "data.test_size=256", "model.jsd_samples=256", "trainer.max_epochs=1",
                   "logger=csv", "run_id=wgan", cwd=tmp_path,
                   env={"PYTHONPATH": path, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = run_dirs(tmp_path)[0]
    assert "wgan_gp.WGANGP" in (run / "config_resolved.yaml").read_text()
    record = json.loads((run / "metrics.json").read_text())
    assert "train/d_loss" in record["last"]["train"] and "val/hq_ratio" in record["metrics"]
