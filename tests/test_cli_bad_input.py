"""Every command is one paragraph on bad input: genlab-eval, -sample, -fetch, -apply and
-compare (and genlab-train's Hydra flags) answer a wrong value, a missing mandatory value, a
nonexistent path, a string where a list belongs, or a combination of Hydra's own flags with
one paragraph naming the key and what is allowed, exit code != 0, no traceback, no torch
imported and nothing written (the pre-flight, genlab/config/preflight.py, runs before
Hydra makes a run directory).

The reported cases each have a test below; the property test at the end draws random
values for every key of the five commands' configs from a seeded RNG (the same draws in
every run) and runs each command for real: it finishes, or it refuses as above.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fake_datasets import write_mnist

MODULES = {"train": "genlab.cli.train", "eval": "genlab.cli.eval",
           "sample": "genlab.cli.sample", "fetch": "genlab.cli.fetch",
           "apply": "genlab.cli.apply", "compare": "genlab.cli.compare"}
HYDRA_COMMANDS = ("train", "eval", "sample", "fetch", "apply")
# fetch never reaches the network in a test: a proxy that refuses every connection
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


class Result:
    """A command's exit code, stdout, stderr (without -X importtime's lines), and the
    top-level packages it imported."""

    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        lines = proc.stderr.splitlines()
        self.code, self.stdout = proc.returncode, proc.stdout
        self.stderr = "\n".join(ln for ln in lines if not ln.startswith("import time:"))
        self.packages = {ln.split("|")[-1].strip().split(".")[0] for ln in lines
                         if ln.startswith("import time:")}


def run(command: str, *args: str, cwd: Path, timeout: float = 600) -> Result:
    env = {**os.environ, **OFFLINE, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "GENLAB_ROOT": str(cwd), "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return Result(subprocess.run([sys.executable, "-X", "importtime", "-m", MODULES[command],
                                  *args], cwd=cwd, env=env, capture_output=True, text=True,
                                 timeout=timeout))


def files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if "__pycache__" not in p.parts}


def assert_one_paragraph(result: Result, key: str | None = None) -> None:
    """Refused before anything ran: exit 2, one short paragraph (naming `key`), no
    traceback and no torch or Lightning imported."""
    assert result.code == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 6, result.stderr
    if key is not None:
        assert f"`{key}`" in result.stderr, result.stderr
    assert not result.packages & {"torch", "lightning"}


@pytest.fixture
def fake_run(tmp_path: Path) -> Path:
    """A run directory as genlab-train leaves it, as far as the pre-flight (and
    genlab-compare's search for runs) reads it: a checkpoint file, config_resolved.yaml
    naming an unconditional VAE, .hydra/."""
    run_dir = tmp_path / "runs" / "vae"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / ".hydra").mkdir()
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"not read by the pre-flight")
    OmegaConf.save({"model": {"_target_": "genlab.models.vae.VAE"}},
                   run_dir / "config_resolved.yaml")
    return run_dir


@pytest.fixture
def work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    return work


# --- the reported cases -------------------------------------------------------------------

@pytest.mark.parametrize("command", ["sample", "eval"])
def test_no_ckpt_path_names_the_mandatory_key(command: str, work: Path) -> None:
    """Reported: omegaconf's MissingMandatoryValue traceback. Rules out reading
    `cfg.ckpt_path` unchecked, and checking it inside the job (Hydra would have made the
    run directory, and torch would be imported, by then)."""
    result = run(command, cwd=work)
    assert_one_paragraph(result, "ckpt_path")
    assert "no default" in result.stderr and f"genlab-{command} ckpt_path=" in result.stderr
    assert not files(work)


def test_labels_as_one_number_is_refused_for_an_unconditional_model(fake_run: Path,
                                                                   work: Path) -> None:
    """Reported: `labels=3` gave `TypeError: 'int' object is not iterable` (list(3)).
    Rules out iterating the value as given, and refusing only after the model is loaded
    (the run's config says the model is unconditional; torch is never imported)."""
    result = run("sample", f"ckpt_path={fake_run}/checkpoints/last.ckpt", "labels=3",
                 cwd=work)
    assert_one_paragraph(result, "labels")
    assert "unconditional" in result.stderr and "genlab.models.vae.VAE" in result.stderr
    assert not files(work)


def test_one_label_is_a_one_element_list_for_a_conditional_model() -> None:
    """The other half of `labels=3`: for a conditional model one id means [3], cycled to
    n. Rules out accepting the number in the schema but still iterating it in the command."""
    import torch

    from genlab.cli.sample import _labels

    class Conditional:
        conditional, num_classes = True, 10

    labels = _labels(OmegaConf.create({"labels": 3}), Conditional(), 4)
    assert torch.equal(labels, torch.tensor([3, 3, 3, 3]))


@pytest.mark.parametrize("command", ["sample", "eval"])
def test_missing_checkpoint_is_named_before_the_run_config(command: str, work: Path) -> None:
    """Reported: `ckpt_path=/nope.ckpt` said "No training config at /config_resolved.yaml".
    Rules out looking for the run's config before checking the checkpoint exists."""
    result = run(command, "ckpt_path=/nope.ckpt", cwd=work)
    assert_one_paragraph(result, "ckpt_path")
    assert "No such checkpoint: /nope.ckpt" in result.stderr
    assert "training config" not in result.stderr
    assert not files(work)


def test_checkpoint_outside_a_run_directory_asks_for_train_config(tmp_path: Path,
                                                                 work: Path) -> None:
    """A checkpoint copied out of its run: the missing config_resolved.yaml is named with
    the way out (train_config=...). Rules out a FileNotFoundError from OmegaConf.load."""
    ckpt = tmp_path / "loose.ckpt"
    ckpt.write_bytes(b"x")
    result = run("sample", f"ckpt_path={ckpt}", cwd=work)
    assert_one_paragraph(result, "train_config")
    assert "train_config=<run dir>/config_resolved.yaml" in result.stderr


def test_an_unreadable_run_config_is_one_paragraph(fake_run: Path, work: Path) -> None:
    """The run's config_resolved.yaml is read before torch (for the model's class): rules
    out letting a YAML parser's traceback through when it is damaged."""
    (fake_run / "config_resolved.yaml").write_text("model: [unclosed\n")
    result = run("eval", f"ckpt_path={fake_run}/checkpoints/last.ckpt", cwd=work)
    assert_one_paragraph(result, "train_config")
    assert "cannot be read" in result.stderr


def test_a_path_holding_equals_signs_says_to_quote_it(work: Path) -> None:
    """Lightning names checkpoints epoch=N-step=M.ckpt, which Hydra's grammar refuses
    unquoted. Rules out passing Hydra's bare parser message on without the way out."""
    result = run("sample", "ckpt_path=/r/epoch=0-step=20.ckpt", cwd=work)
    assert_one_paragraph(result, "command line")
    assert "needs quotes: 'ckpt_path=\"/r/epoch=0-step=20.ckpt\"'" in result.stderr


def test_fetch_reads_one_dataset_name_as_a_list(work: Path) -> None:
    """Reported: `datasets=mnist` was split into letters. Rules out iterating the string:
    one name is a one-element list, fetched (here: found on disk) as such."""
    write_mnist(work / "data", "MNIST", n_train=4, n_test=2)
    result = run("fetch", "datasets=mnist", "inception=false", cwd=work)
    assert result.code == 0, result.stderr[-3000:]
    assert "present  mnist" in result.stdout and "MISSING" not in result.stdout


def test_fetch_mistyped_dataset_gets_the_nearest_name(work: Path) -> None:
    """Rules out refusing only inside the job (after Hydra made the run dir) and a list
    of allowed names without the one that was meant."""
    result = run("fetch", "datasets=[mnist,fashon_mnist]", cwd=work)
    assert_one_paragraph(result, "datasets")
    assert "Did you mean `fashion_mnist`?" in result.stderr
    assert not files(work)


def test_a_sweep_of_a_command_is_checked_before_hydra_makes_its_dir(fake_run: Path,
                                                                    work: Path) -> None:
    """`-m` jobs are composed by Hydra, after the single-run pre-flight: rules out
    pre-checking only plain runs (the sweep dir would be made, then each job fail)."""
    result = run("sample", "-m", f"ckpt_path={fake_run}/checkpoints/last.ckpt",
                 "n=1,0", cwd=work)
    assert_one_paragraph(result, "n")
    assert not files(work)


def test_compare_writes_nothing_for_a_directory_without_runs(work: Path) -> None:
    """genlab-compare wrote summary.csv/md into a directory with no runs, then refused.
    Rules out checking for runs after summarising."""
    empty = work / "empty"
    empty.mkdir()
    result = run("compare", str(empty), cwd=work)
    assert_one_paragraph(result, "dirs")
    assert not list(empty.iterdir())


def test_compare_out_that_is_a_file_is_one_paragraph(fake_run: Path, work: Path) -> None:
    """`--out` naming a file: a FileExistsError traceback from mkdir before. Rules out
    writing without proving the location first."""
    (work / "afile").write_text("")
    result = run("compare", str(fake_run), "--out", str(work / "afile"), cwd=work)
    assert result.code != 0 and "Traceback" not in result.stderr
    assert "`--out`" in result.stderr and len(result.stderr.strip().splitlines()) <= 6


DIGITS = {"_target_": "genlab.data.digits.DigitsDataModule", "val_size": 180,
          "test_size": 360}


@pytest.mark.parametrize(("data", "args", "key"), [
    ({"_target_": "genlab.data.toy2d.Ring8"}, ["app=invert"], "ckpt_path"),
    ({"_target_": "genlab.data.image_folder.ImageFolderDataModule", "image_size": 64},
     ["app=arithmetic"], "app"),
    (DIGITS, ["app.mask=box", "app.box=[0,0,9,9]"], "app.box"),
    (DIGITS, ["n=361"], "n"),
    (DIGITS, ["app.lam=-0.1"], "app.lam"),
    (DIGITS, ["app=invert", "app.steps=-1"], "app.steps"),
], ids=["toy model", "arithmetic without labels", "box larger than the image",
        "n above the split", "negative lambda", "negative steps"])
def test_apply_refuses_what_the_checkpoint_cannot_serve(fake_run: Path, work: Path,
                                                        data: dict, args: list[str],
                                                        key: str) -> None:
    """genlab-apply as run: an app the checkpoint cannot serve (a 2-D toy model, arithmetic
    on unlabelled images), a mask larger than the image, n above the split, a negative λ or
    step count. Rules out a refusal that comes only once torch and the model are loaded, or
    after Hydra made the run directory (the training run's config decides all of them)."""
    OmegaConf.save({"model": {"_target_": "genlab.models.gan.GAN"}, "data": data},
                   fake_run / "config_resolved.yaml")
    result = run("apply", f"ckpt_path={fake_run}/checkpoints/last.ckpt", *args, cwd=work)
    assert_one_paragraph(result, key)
    assert not files(work)


# --- Hydra's own flags ----------------------------------------------------------------------

# (flags, exit code): Hydra prints and exits 0, or genlab refuses the combination with 2
FLAGS = [
    (["--help"], 0), (["--hydra-help"], 0), (["--info"], 0), (["--info", "defaults"], 0),
    (["--cfg", "job"], 0), (["--cfg", "hydra"], 0), (["--cfg", "all", "--resolve"], 0),
    (["--version"], 0),
    (["-m", "--cfg", "hydra"], 2), (["--cfg", "job", "-m"], 2), (["--info", "-m"], 2),
    (["--run", "-m"], 2), (["--cfg", "job", "--info"], 2), (["--resolve"], 2),
    (["--shell-completion"], 2), (["-cn", "evl"], 2), (["--cfg", "bogus"], 2),
    (["--cfg", "job", "nokey=1"], 2),
]
REPORTED_FLAGS = [(["-m", "trainer.max_epochs=1", "--cfg", "hydra"], 2), (["--info"], 0)]


def _check_flags(command: str, flags: list[str], code: int, cwd: Path) -> None:
    result = run(command, *flags, cwd=cwd)
    assert result.code == code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr
    if code == 2 and "bogus" not in flags:  # argparse's own refusals print its usage
        assert_one_paragraph(result)
    assert not result.packages & {"torch", "lightning"}
    assert not files(cwd)


@pytest.mark.parametrize("flags,code", REPORTED_FLAGS, ids=[" ".join(f) for f, _ in REPORTED_FLAGS])
@pytest.mark.parametrize("command", ["train", "sample"])
def test_reported_hydra_flags(command: str, flags: list[str], code: int, work: Path) -> None:
    """Reported: `genlab-train -m ... --cfg hydra` raised Hydra's ValueError traceback.
    Rules out leaving flag combinations to Hydra (and `--info` must still print)."""
    if command == "sample" and "trainer.max_epochs=1" in flags:
        flags = ["-m", "n=1", "--cfg", "hydra"]
    _check_flags(command, flags, code, work)


@pytest.mark.slow
@pytest.mark.parametrize("flags,code", FLAGS, ids=[" ".join(f) for f, _ in FLAGS])
@pytest.mark.parametrize("command", HYDRA_COMMANDS)
def test_hydra_flags_never_show_a_traceback(command: str, flags: list[str], code: int,
                                            work: Path) -> None:
    """Every command, every flag and combination of Hydra's: prints (exit 0) or one
    paragraph (exit 2), never a traceback, never torch. Rules out a check in one
    command's entry point only (they share command_main) and a pre-flight that reads
    flags differently from Hydra (it uses Hydra's own parser)."""
    _check_flags(command, flags, code, work)


def test_flag_conflict_message_names_the_way_out(work: Path) -> None:
    """Rules out a bare "only one of" (Hydra's words): the paragraph says what to drop."""
    result = run("train", "-m", "--cfg", "hydra", cwd=work)
    assert_one_paragraph(result, "command line")
    assert "drop `-m`" in result.stderr


# --- property: random values in every key of the four commands ---------------------------

SEED = 22
ABSENT = "<absent>"  # drop the key from the command line (ckpt_path: the mandatory value)
BIG = 2**32
NAMES = {"run_id": [None, "r1", 7, "a/b"], "paths.log_dir": ["{tmp}/l", 5]}
POOLS: dict[str, dict[str, list]] = {
    "sample": {
        "ckpt_path": ["{ckpt}", ABSENT, "{tmp}/nope.ckpt", "{tmp}", 5, "{loose}"],
        "train_config": [None, "{config}", "{tmp}/nope.yaml"],
        "n": [1, 4, 0, -1, 2.5, "x", "[1]"], "labels": [None, 3, "[1]", "[]", "x", "[1,a]"],
        "interpolate": [True, False, "maybe"], "steps": [2, 3, 1, 0, "x"],
        "seed": [0, 7, -1, BIG, None, "x"], "task_name": ["sample", "x/y"],
        "nn": [3], **NAMES,
    },
    "eval": {
        "ckpt_path": ["{ckpt}", ABSENT, "{tmp}/nope.ckpt", "{loose}"],
        "train_config": [None, "{config}", "{tmp}/nope.yaml"],
        "trainer.precision": ["32-true", "17"], "trainer.accelerator": ["cpu", "quantum"],
        "trainer.devices": [1, 0, "x"], "++trainer.limit_test_batches": [1, 2, -1, 1.5],
        "trainer.deterministic": [True, "always"], "logger": ["csv", "none", "wandb", "csvv"],
        "metrics": ["none", "default", "nne"], "metrics.n_samples": [40, 0, "many"],
        "metrics.features.max_epochs": [1, 0, "x"], "task_name": ["eval", "x/y"],
        "data": ["{{}}", "x"], "project": ["genlab", 5], "run_name": ["eval", "a/b"],
        "tags": ["[a]", "x", "[1]", None], **NAMES,
    },
    "fetch": {
        "datasets": ["[mnist]", "mnist", "[]", "mnst", "[mnist,7]", 7, "[[mnist]]"],
        "inception": [False, True, "maybe"], "timeout": [1, 0.5, 0, -1, "x"],
        "task_name": ["fetch", "x/y"], "incepton": [True], **NAMES,
    },
    # the cases among them: an app the data cannot serve is in test_app_a_checkpoint_
    # cannot_serve_is_one_paragraph (a real toy checkpoint costs a training), a box larger
    # than the 8×8 digits, n above the 360-image test split, a negative λ or step count
    "apply": {
        "ckpt_path": ["{ckpt}", ABSENT, "{tmp}/nope.ckpt", "{loose}"],
        "train_config": [None, "{config}", "{tmp}/nope.yaml"],
        "app": ["complete", "invert", "arithmetic", "interpolate", "inpaint"],
        "app.mask": ["center", "random", "left_half", "middle"],
        "app.box": ["[1,1,3,3]", "[2,2,7,3]", "[0,0,9,9]", "[1,1]", "x"],  # with app.mask=box
        "app.lam": [0.1, 0, -1, "x"], "app.steps": [0, 1, -5, 2.5], "app.restarts": [1, 2, 0],
        "n": [2, 4, 0, -1, 361, "x"], "split": ["test", "val", "train", "dev"],
        "seed": [0, -1, BIG, "x"], "batch_size": [1, 3, 0], "data": ["{{}}", "x"],
        "judge.max_epochs": [1, 0, "x"], "logger": ["csv", "none", "csvv"],
        "task_name": ["apply", "x/y"], "project": ["genlab", 5], "run_name": ["apply", "a/b"],
        "tags": ["[a]", "x", None], **NAMES,
    },
}
COMPARE = {"dirs": [["{run}"], ["{tmp}/nope"], ["{loose}"], ["{empty}"], ["{run}", "{run}"]],
           "--out": [None, "{tmp}/out", "{loose}", "/proc/genlab"]}
BASE = {"sample": ["ckpt_path={ckpt}", "n=4"],
        "eval": ["ckpt_path={ckpt}", "metrics=none", "logger=csv", "trainer.accelerator=cpu",
                 "++trainer.limit_test_batches=1"],
        "fetch": ["datasets=[mnist]", "inception=false", "timeout=1"],
        "apply": ["ckpt_path={ckpt}", "n=4", "judge.max_epochs=1", "app.steps=2",
                  "app.restarts=1"]}
# the metric suite at its smallest when a draw turns it on
SMALL_SUITE = ["metrics.n_samples=40", "metrics.batch_size=20", "metrics.kid_subsets=5",
               "metrics.features.max_epochs=1", "metrics.n_reference=40"]


def _fmt(value) -> str:
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


# each key of a command's pool leads one draw (with up to two others), plus a few more
DRAWS = {**{command: len(pool) + 2 for command, pool in POOLS.items()}, "compare": 8}


def draw(command: str, index: int) -> tuple[list[str], set[str]]:
    """Draw `index` of `command`: its command line (with {placeholders}) and drawn keys."""
    rng = random.Random(f"{SEED}-{command}-{index}")
    if command == "compare":
        dirs, out = rng.choice(COMPARE["dirs"]), rng.choice(COMPARE["--out"])
        return [*dirs, *(["--out", out] if out else [])], {"dirs", "--out"}
    pool = sorted(POOLS[command])
    lead = pool[index % len(pool)]
    keys = [lead, *rng.sample([k for k in pool if k != lead], rng.randint(0, 2))]
    args = {a.split("=", 1)[0]: a for a in BASE[command]}
    for key in keys:
        value = rng.choice(POOLS[command][key])
        args.pop(key, None)
        if value != ABSENT:
            args[key] = f"{key}={_fmt(value)}"
    if "app.box" in args:  # a box is completed only under app.mask=box
        args.setdefault("app.mask", "app.mask=box")
    if args.get("metrics") == "metrics=default":
        args = {**{a.split("=", 1)[0]: a for a in SMALL_SUITE}, **args}
    line = list(args.values())
    return line, {k.lstrip("+~") for k in [*keys, *args]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, str]:
    """A real tiny VAE run (one short epoch), and the placeholders the draws use."""
    root = tmp_path_factory.mktemp("trained")
    result = run("train", "trainer.max_epochs=1", "logger=csv", "metrics=none",
                 "callbacks=checkpoint", "run_id=tiny", "model.iwae_samples=2",
                 "++trainer.limit_train_batches=2", "++trainer.limit_val_batches=1",
                 "++trainer.limit_test_batches=1", cwd=root)
    assert result.code == 0, result.stderr[-3000:]
    run_dir = root / "logs" / "train" / "runs" / "tiny"
    loose, empty = root / "loose.ckpt", root / "empty"
    loose.write_bytes((run_dir / "checkpoints" / "last.ckpt").read_bytes())
    empty.mkdir()
    write_mnist(root / "data", "MNIST", n_train=4, n_test=2)
    return {"ckpt": str(run_dir / "checkpoints" / "last.ckpt"), "run": str(run_dir),
            "config": str(run_dir / "config_resolved.yaml"), "loose": str(loose),
            "empty": str(empty), "tmp": str(root)}


def check_draw(command: str, line: list[str], keys: set[str], cwd: Path) -> Result:
    """The draw finishes (fetch: or says, in one paragraph, what it could not fetch), or
    is refused in one paragraph naming one of its keys, before torch, writing nothing."""
    if "ckpt_path" in keys:  # a checkpoint outside a run dir: its config is asked for
        keys = keys | {"train_config"}
    before = files(cwd)
    result = run(command, *line, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    if result.code == 2:
        assert_one_paragraph(result)
        named = re.search(r"`([^`]+)`", result.stderr)
        assert named and (named[1] in keys or named[1] == "command line"
                          or any(named[1].startswith(f"{k}.") for k in keys)), result.stderr
        assert files(cwd) == before
    elif result.code == 1:  # fetch without a network; compare's --out not writable
        assert "Could not fetch" in result.stderr or "not writable" in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 6, result.stderr
    else:
        assert result.code == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
@pytest.mark.parametrize("command,index", [(c, i) for c, n in DRAWS.items() for i in range(n)])
def test_random_values_run_or_are_refused_in_one_paragraph(command: str, index: int,
                                                          trained: dict[str, str]) -> None:
    """Rules out a key of these commands' configs reaching torch, Lightning or the file
    system unchecked: a wrong type, a missing mandatory value, a nonexistent path or a
    string where a list belongs either works as documented or is one paragraph."""
    line, keys = draw(command, index)
    line = [arg.format(**trained) for arg in line]
    print(" ".join(line))
    check_draw(command, line, keys, Path(trained["tmp"]))


# the reported failures, run for real like the draws: each once crashed or misread
REGRESSIONS = [
    ("sample", ["n=4"]),  # no ckpt_path: MissingMandatoryValue
    ("eval", ["metrics=none"]),  # the same
    ("sample", ["ckpt_path={ckpt}", "labels=3"]),  # TypeError: 'int' object is not iterable
    ("sample", ["ckpt_path={tmp}/nope.ckpt"]),  # "No training config at ..."
    ("fetch", ["datasets=mnist", "inception=false"]),  # the name split into letters
    ("eval", ["ckpt_path={ckpt}", "metrics=none", "logger=wandb"]),  # ${project} unresolved
    ("eval", ["ckpt_path={ckpt}", "metrics=default", *SMALL_SUITE]),  # the suite, for real
    ("apply", ["ckpt_path={ckpt}", "app.mask=box", "app.box=[2,2,7,3]"]),  # the issue's
    ("apply", ["ckpt_path={ckpt}", "n=361"]),  # bad-input cases on a real checkpoint
    ("apply", ["ckpt_path={ckpt}", "app=arithmetic", "app.lam=-1"]),
    ("apply", ["ckpt_path={ckpt}", "app=invert", "app.steps=-1"]),
    ("apply", [*BASE["apply"], "app=arithmetic"]),  # an app the digits VAE serves, for real
]


@pytest.mark.slow
@pytest.mark.parametrize("command,line", REGRESSIONS,
                         ids=[f"{c} {' '.join(a)}" for c, a in REGRESSIONS])
def test_reported_failures_run_or_are_refused_in_one_paragraph(command: str, line: list[str],
                                                               trained: dict[str, str]) -> None:
    """Rules out fixing a reported case's message while it still crashes when run (the
    fast tests above use a fake run directory; these use a real checkpoint)."""
    keys = {a.split("=", 1)[0] for a in line} | {"ckpt_path"}
    check_draw(command, [a.format(**trained) for a in line], keys, Path(trained["tmp"]))


def test_the_draws_reach_every_key_of_the_commands_configs() -> None:
    """Rules out a property test that misses a key of a command's config (a key added to
    conf/<command>.yaml must get a pool here), or a pool key no draw leads."""
    conf = Path(__file__).parent.parent / "conf"
    for command in ("sample", "eval", "fetch", "apply"):
        config = OmegaConf.load(conf / f"{command}.yaml")
        groups = {next(iter(d)) for d in OmegaConf.to_container(config.defaults)
                  if isinstance(d, dict)}  # `- hydra: default` beside the root key hydra:
        own = {k for k in config if k != "defaults" and k not in groups}
        missing = own - {k.split(".")[0] for k in POOLS[command]}
        assert not missing, f"{command}: no pool for {missing}"
        pool = {k.lstrip("+") for k in POOLS[command]}
        drawn = set().union(*(draw(command, i)[1] for i in range(DRAWS[command])))
        assert pool <= drawn, (command, pool - drawn)
