"""Progress with an ETA inside one step (genlab/models/step_progress.py): the VAE's IWAE
test reports each decoder forward, a line under Lightning's rich bar shows it, and nothing
is shown (or costs anything) without a progress bar."""

from __future__ import annotations

import io

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import RichProgressBar
from torch.utils.data import DataLoader, TensorDataset

import genlab.models.step_progress as step_progress
from test_elbo import _vae


def test_iwae_advances_once_per_decoder_forward_and_its_values_are_unchanged() -> None:
    """10 examples in slices of 4, 4, 2 (iwae_batch=4) with K=6: 1, 1 and 2 samples per
    forward, 6 + 6 + 3 = 15 forwards, each reported once, and `iwae_forwards` announces
    15 before the work starts (the bar's total). Rules out a count of slices (3) as the
    total while forwards are reported, or the reverse, and a progress hook that changes
    the numbers (the same seed gives the same bound with and without it)."""
    model = _vae(iwae_batch=4)
    x = torch.bernoulli(torch.rand(10, 1, 8, 8))
    forwards: list[int] = []
    model.decoder.register_forward_hook(lambda m, args, out: forwards.append(len(args[0])))
    advances: list[int] = []
    torch.manual_seed(5)
    reported = model.iwae_log_likelihood(x, 6, lambda: advances.append(len(forwards)))
    assert model.iwae_forwards(10, 6) == len(forwards) == 15
    assert advances == list(range(1, 16))  # after each forward, not before
    torch.manual_seed(5)
    assert torch.equal(model.iwae_log_likelihood(x, 6), reported)
    model.hparams.iwae_chunk = 1  # a cap on samples per forward: 6 forwards for each slice
    assert model.iwae_forwards(10, 6) == 18


def _test_run(model, enable_progress_bar: bool, out: io.StringIO) -> float:
    x = torch.rand(20, 1, 8, 8)
    callbacks = [RichProgressBar(console_kwargs={"file": out, "force_terminal": True,
                                                 "width": 160})] if enable_progress_bar else []
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_model_summary=False, enable_progress_bar=enable_progress_bar,
                        callbacks=callbacks)
    [result] = trainer.test(model, DataLoader(TensorDataset(x, torch.zeros(20)), batch_size=10),
                            verbose=False)
    return result["test/nll_iwae"]


def test_iwae_test_shows_a_line_with_its_forwards_under_the_rich_bar(monkeypatch) -> None:
    """Under RichProgressBar the IWAE test of each batch is a task of the bar's display,
    counted in decoder forwards up to its total (`24/24`: 10 examples, iwae_batch=5, K=12,
    two slices of 12 forwards); without a progress bar no line is made at all, and the
    test's value is the same. Rules out a second rich live display (rich refuses it while
    Lightning's is on), a line that shows while the bar is off (CI logs), and progress
    that changes the result."""
    monkeypatch.setattr(step_progress, "SHOW_AFTER_S", 0.0)
    model = _vae(iwae_batch=5, iwae_samples=12)
    assert model.iwae_forwards(10, 12) == 24
    out = io.StringIO()
    torch.manual_seed(0)
    shown = _test_run(model, True, out)
    text = out.getvalue()
    assert "IWAE bound, K=12" in text and "24/24" in text, text[-2000:]

    def refuse(*args, **kwargs):
        raise AssertionError("a progress line without a progress bar")

    monkeypatch.setattr(step_progress, "_Line", refuse)
    torch.manual_seed(0)
    assert _test_run(model, False, io.StringIO()) == pytest.approx(shown)


def test_a_short_step_shows_no_line(monkeypatch) -> None:
    """Work shorter than SHOW_AFTER_S opens no line (a line per digits batch would
    flicker)."""
    model = _vae(iwae_batch=5, iwae_samples=12)
    out = io.StringIO()
    _test_run(model, True, out)
    assert "IWAE bound" not in out.getvalue()
