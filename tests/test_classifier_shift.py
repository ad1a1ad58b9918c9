"""nets/classifier.py's RandomShift: the judge's one training-time augmentation."""

from __future__ import annotations

import torch

from genlab.nets.classifier import RandomShift, VGGClassifier


def test_random_shift_moves_each_image_within_its_bound_and_only_in_training() -> None:
    """A single bright pixel lands at most `pixels` away in x and y, images move
    independently (over 256 images most of the 25 offsets occur), and eval mode is the
    identity. Rules out a shift applied at evaluation (the judge's features would be
    noisy), one shift for the whole batch, and a bound that is ignored."""
    x = torch.zeros(256, 1, 12, 12)
    x[:, 0, 6, 6] = 1.0
    shift = RandomShift(2)
    assert torch.equal(shift.eval()(x), x)
    torch.manual_seed(0)
    moved = shift.train()(x)
    assert torch.equal(moved.sum(dim=(1, 2, 3)), torch.ones(256))  # moved, not lost
    where = {divmod(int(img.flatten().argmax()), 12) for img in moved[:, 0]}
    assert all(abs(row - 6) <= 2 and abs(col - 6) <= 2 for row, col in where)
    assert len(where) >= 20


def test_shift_is_a_fraction_of_the_side() -> None:
    """shift 0.06: ±2 px at 28 and 32 px, none on the 8×8 digits; 0 turns it off."""
    pixels = {side: VGGClassifier([1, side, side], 10, shift=0.06).augment.pixels
              for side in (8, 28, 32)}
    assert pixels == {8: 0, 28: 2, 32: 2}
    assert VGGClassifier([1, 28, 28], 10).augment.pixels == 0
