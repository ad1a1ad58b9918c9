"""The `gpu` tier: genlab's GPU paths on a CUDA device (skipped, saying so, without one;
`benchmarks/gpu_check.sh` runs this tier on a bare CUDA machine).

- one short epoch each of the VAE and the DCGAN on the GPU in fp32, bf16-mixed,
  channels_last and compiled (torch.compile through the performance callback): metrics
  finite and close to the fp32 run's;
- a checkpoint written on the GPU reloads (weights_only) and evaluates identically;
- in-memory CUDA batches (data.in_memory: tensors on the device) equal the DataLoader's
  for the same seed;
- where two GPUs exist, 2-GPU DDP trains like one process at the global batch.

Tolerances are not measured yet (no GPU where this was written): they are set from the
numerics of each mode, bf16's 8-bit mantissa (≈ 4e-3 relative per rounding) allowing the
widest, and are to be tightened from the values the tests print on a GPU run.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch

from conftest import run_cli
from genlab.cli.train import run
from genlab.data.digits import DigitsDataModule
from test_ddp_models import CASES, COMMON, STEPS, assert_same, replay_one_process

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="no CUDA device: the gpu tier needs one "
                              "(benchmarks/gpu_check.sh runs it on a GPU machine)"),
]

TESTS_DIR = Path(__file__).parent
STEPS_PER_EPOCH = 8
PERF = "+callbacks.performance._target_=genlab.callbacks.performance.PerformanceOptions"
# one short epoch on the GPU: the preset's model, STEPS_PER_EPOCH batches, 2 val batches
# (trainer.accelerator=gpu again: the tests' compose_cfg sets trainer.accelerator=cpu)
SHORT = ["trainer=gpu", "trainer.accelerator=gpu", "trainer.max_epochs=1",
         f"+trainer.limit_train_batches={STEPS_PER_EPOCH}", "+trainer.limit_val_batches=2",
         "+trainer.num_sanity_val_steps=0", "trainer.log_every_n_steps=1", "test=false", PERF,
         "trainer.benchmark=false", "optimized_metric=null", "seed=3"]
MODELS = {
    "vae": ["experiment=vae_digits", "model.iwae_samples=0"],
    "dcgan": ["experiment=dcgan_digits"],
}
# each mode's overrides, and how far its metrics may be from fp32's (relative, absolute)
MODES = {
    "bf16_mixed": (["trainer.precision=bf16-mixed"], 5e-2, 5e-2),
    "channels_last": (["++callbacks.performance.channels_last=true"], 1e-2, 1e-2),
    "compiled": (["++callbacks.performance.compile=true"], 1e-2, 1e-2),
}
# what each model logs that the comparison reads (validation: one pass over the same batches)
KEYS = {"vae": ("val/elbo", "val/recon", "val/kl"), "dcgan": ("val/d_real", "val/d_fake")}


def train(compose_cfg, tmp_path: Path, name: str, *overrides: str) -> dict[str, float]:
    torch._dynamo.reset()  # each compiled run compiles its own nets
    cfg = compose_cfg(*SHORT, "callbacks=none", *overrides, output_dir=tmp_path / name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(cfg)
    fallbacks = [str(w.message) for w in caught if "torch.compile" in str(w.message)]
    assert not fallbacks, fallbacks  # compiled means compiled, not the eager fallback
    record = json.loads((tmp_path / name / "metrics.json").read_text())
    return {**record["metrics"], **record.get("last", {}).get("train", {})}


@pytest.fixture(scope="module")
def fp32_runs() -> dict:
    """model → its fp32 eager metrics (made once per module)."""
    return {}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("model", list(MODELS))
def test_short_epoch_in_each_mode_is_finite_and_close_to_fp32(
        model: str, mode: str, fp32_runs: dict, compose_cfg, tmp_path: Path) -> None:
    """Rules out: a mode that silently does nothing (bf16 with the fp32 result to the last
    digit; checked: it must differ somewhere), NaN/inf from bf16 overflow (the VAE's
    Bernoulli log-likelihood on logits), a channels_last or compiled net that computes
    something else (off the fp32 metrics by more than rounding)."""
    if model not in fp32_runs:
        fp32_runs[model] = train(compose_cfg, tmp_path, "fp32", *MODELS[model],
                                 "trainer.precision=32-true")
    base = fp32_runs[model]
    extra, rel, abs_ = MODES[mode]
    got = train(compose_cfg, tmp_path, mode, *MODELS[model], *extra)
    for key in KEYS[model]:
        assert math.isfinite(got[key]), (key, got[key])
        print(f"{model} {mode} {key}: {got[key]:.6g} vs fp32 {base[key]:.6g}")
        assert got[key] == pytest.approx(base[key], rel=rel, abs=abs_), key
    train_keys = [k for k in got if k.startswith("train/")]
    assert train_keys and all(math.isfinite(got[k]) for k in train_keys)
    if mode == "bf16_mixed":
        assert any(got[k] != base[k] for k in KEYS[model]), "bf16 changed nothing"


def _validate(model: L.LightningModule, datamodule, seed: int) -> dict[str, float]:
    trainer = L.Trainer(accelerator="gpu", devices=1, logger=False, limit_val_batches=2,
                        enable_progress_bar=False, enable_model_summary=False)
    L.seed_everything(seed, verbose=False)
    (metrics,) = trainer.validate(model, datamodule=datamodule, verbose=False)
    return metrics


@pytest.mark.parametrize("model", list(MODELS))
def test_gpu_checkpoint_reloads_and_evaluates_identically(model: str, compose_cfg,
                                                         tmp_path: Path) -> None:
    """The last.ckpt of a GPU run, loaded with weights_only into a fresh module, holds the
    trained weights bit for bit and validates (same seed) to the same numbers as the
    module that wrote it. Rules out a checkpoint written before the last step, state kept
    outside state_dict (e.g. buffers on the module but not registered), and anything that
    needs unpickling code (weights_only would refuse it)."""
    from hydra.utils import instantiate

    cfg = compose_cfg(*SHORT, *MODELS[model], "callbacks=checkpoint",
                      output_dir=tmp_path / "run")
    run(cfg)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)
    # written from the GPU (the run did not fall back to the CPU)
    assert all(t.is_cuda for t in state["state_dict"].values())

    def fresh():
        datamodule = instantiate(cfg.data)
        module = instantiate(cfg.model, data_shape=list(datamodule.shape),
                             num_classes=datamodule.num_classes, _recursive_=False,
                             _convert_="all")
        return module, datamodule

    first, dm1 = fresh()
    first.load_state_dict(state["state_dict"])
    second, dm2 = fresh()  # and through Lightning's own loading
    second = type(second).load_from_checkpoint(ckpt, map_location="cuda", weights_only=True,
                                               data_shape=list(dm2.shape),
                                               num_classes=dm2.num_classes)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(),
                                 strict=True):
        assert torch.equal(a.cpu(), b.cpu()), name
    one, two = _validate(first, dm1, 0), _validate(second, dm2, 0)
    print(model, one)
    assert one == two and all(math.isfinite(v) for v in one.values())


def test_in_memory_cuda_batches_equal_the_dataloaders() -> None:
    """data.in_memory on a GPU: the batches come from tensors on the device, and are the
    DataLoader path's batches for the same seed. Rules out the fast path quietly falling
    back to host batches (then nothing here would be on the GPU) and an order drawn from
    another RNG stream than the DataLoader's (CUDA randperm, a device generator)."""
    gpu = SimpleNamespace(world_size=1, strategy=SimpleNamespace(root_device=torch.device("cuda")))

    def batches(in_memory: bool, seed: int) -> list:
        dm = DigitsDataModule(name="digits", batch_size=64, in_memory=in_memory)
        dm.trainer = gpu if in_memory else None
        torch.manual_seed(seed)
        return [list(b) for _ in range(2) for b in dm.train_dataloader()]

    fast, slow = batches(True, 5), batches(False, 5)
    assert len(fast) == len(slow) > 0
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        assert xf.is_cuda and yf.is_cuda
        assert torch.equal(xf.cpu(), xs) and torch.equal(yf.cpu(), ys)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_gpu_ddp_trains_like_one_process(compose_cfg, monkeypatch, tmp_path: Path) -> None:
    """trainer=ddp on 2 GPUs (NCCL) = one process at the global batch, batch for batch (the
    replay of tests/test_ddp_models.py, here on the CPU from the GPU ranks' records: the
    tolerance is the GPU/CPU float difference, not DDP's). Rules out gradients not
    all-reduced across GPUs (ranks would differ) or summed (off the replay)."""
    gpu_common = [o.replace("trainer.accelerator=cpu", "trainer.accelerator=gpu")
                  for o in COMMON]
    probe = tmp_path / "probe"
    done = run_cli(*gpu_common, *CASES["vae_mlp"], "trainer=ddp", "trainer.devices=2",
                   "trainer.sync_batchnorm=false", "run_id=two",
                   "+callbacks.probe._target_=ddp_probe.StepProbe",
                   f"+callbacks.probe.path={probe}", f"+callbacks.probe.steps={STEPS}",
                   cwd=tmp_path, env={"PYTHONPATH": str(TESTS_DIR)})
    assert done.returncode == 0, done.stderr[-3000:]
    records = [torch.load(probe / f"rank{r}.pt", weights_only=True, map_location="cpu")
               for r in range(2)]
    names = records[0]["names"]
    for k in range(STEPS):
        assert_same(records[1]["params"][k], records[0]["params"][k], names, f"rank 1 {k}", 0.0)
    ref, _ = replay_one_process(compose_cfg, monkeypatch, [*COMMON, *CASES["vae_mlp"]],
                                records, tmp_path / "replay")
    worst = max(assert_same(records[0]["params"][k], ref["params"][k], names, f"step {k}",
                            1e-4) for k in range(STEPS))
    print(f"2 GPUs vs one process (CPU replay): {worst:.1e}")
