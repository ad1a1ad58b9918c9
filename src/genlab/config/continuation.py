"""`genlab-train ckpt_path=<run>/checkpoints/last.ckpt [overrides]`: a checkpoint alone is
enough to continue a run or to fine-tune from it.

The run's own composition is in its directory (`.hydra/overrides.yaml`, Hydra's record of
the command line that made it), so the command is composed from those overrides with the
new ones on top: `ckpt_path=... trainer.max_epochs=200` continues a `gan_ring8` run as a
`gan_ring8` run, never as the default VAE. What happens next depends on what the new
overrides change:

- only how long or where it runs (`CONTINUATION_KEYS`: the epoch/step budget, devices,
  loggers, paths, progress display): the run **continues in place**: same run directory,
  same CSV history, same W&B and TensorBoard runs, full training state (optimiser, loops,
  RNG) restored;
- anything else (a hyper-parameter, the data, the seed...): a **child run** in a new run
  directory that starts from the checkpoint's weights only (fresh optimiser, epoch 0).

Torch-free: it runs before Hydra composes the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from genlab import run_dir
from genlab.config.flat import dotted

# override keys (or key prefixes ending in ".") that leave the training itself unchanged
CONTINUATION_KEYS = (
    "ckpt_path", "resume", "run_id", "trainer", "trainer.max_epochs", "trainer.max_steps",
    "trainer.max_time", "trainer.devices", "trainer.num_nodes", "trainer.accelerator",
    "trainer.strategy", "trainer.enable_progress_bar", "trainer.enable_model_summary",
    "logger", "logger.", "paths.", "hydra.", "tags", "callbacks.progress_bar",
    "callbacks.last_checkpoint.min_interval_s",
)


CHILD_DROPS = ("run_id", "resume")


def override_key(override: str) -> str:
    """`+trainer.max_epochs=3` → `trainer.max_epochs`; `model=cgan` → `model`."""
    return override.split("=", 1)[0].lstrip("+~")


def continues_in_place(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in CONTINUATION_KEYS)


def _value(args: Sequence[str], key: str) -> str | None:
    found = [a.split("=", 1)[1] for a in args if "=" in a and override_key(a) == key]
    return found[-1] if found else None


def continued_argv(args: Sequence[str]) -> list[str]:
    """genlab-train's command line with the checkpoint's run composition put first.

    Unchanged when there is no `ckpt_path`, when it is a multirun or Hydra flag command, or
    when the checkpoint has no run record beside it (a checkpoint from elsewhere is then
    resumed with this command's own composition, as Lightning would)."""
    ckpt = _value(args, "ckpt_path")
    if not ckpt or ckpt in ("null", "None") or any(a.startswith("-") for a in args):
        return list(args)
    origin = run_dir.of_checkpoint(ckpt)
    record = origin / run_dir.OVERRIDES
    if not (record.is_file() and (origin / run_dir.CONFIG).is_file()):
        return list(args)
    new_keys = {override_key(a) for a in args}
    in_place = all(continues_in_place(k) for k in new_keys)
    # a child run gets a directory of its own: the parent's run_id and resume stay behind
    dropped = new_keys | ({"hydra.run.dir"} if in_place else {"hydra.run.dir", *CHILD_DROPS})
    previous = [str(o) for o in OmegaConf.load(record) if override_key(str(o)) not in dropped]
    return [*previous, *args, *([f"hydra.run.dir={origin.resolve()}"] if in_place else [])]


def is_continuation(ckpt_path: str | None, output_dir: str | Path) -> bool:
    """True when `ckpt_path` belongs to the run in `output_dir` (a resume in place)."""
    if not ckpt_path:
        return False
    return run_dir.of_checkpoint(ckpt_path).resolve() == Path(output_dir).resolve()


def has_run_record(ckpt_path: str | Path) -> bool:
    return (run_dir.of_checkpoint(ckpt_path) / run_dir.CONFIG).is_file()


def changed_keys(parent: dict, child: dict, limit: int = 8) -> list[str]:
    """`key parent → child` for the config values a child run changed (locations, trackers
    and the run budget left out), at most `limit` of them."""
    a, b = dotted(parent), dotted(child)
    keys = [k for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and not continues_in_place(k)
            and not k.startswith(("paths.", "logger.", "callbacks.", "run_name",
                                  "trainer.default_root_dir"))]
    shown = [f"{k} {a.get(k)!r} → {b.get(k)!r}" for k in keys[:limit]]
    return shown + ([f"{len(keys) - limit} more"] if len(keys) > limit else [])
