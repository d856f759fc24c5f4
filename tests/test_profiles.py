"""convlib.profiles: one place reads CONVLIB_PROFILE; bad names list the valid ones."""

import pytest

from convlib import profiles


def test_env_var_selects_the_profile(monkeypatch):
    for name in profiles.PROFILE_NAMES:
        monkeypatch.setenv("CONVLIB_PROFILE", name)
        assert profiles.get_profile().name == name


@pytest.mark.parametrize("gpu", [True, False])
def test_unset_means_quick_even_on_a_gpu(monkeypatch, gpu):
    """A notebook launched on a Colab GPU must not start the multi-hour full profile unasked."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.delenv("CONVLIB_PROFILE", raising=False)
    assert profiles.get_profile().name == "quick"
    line = profiles.announce_profile()
    assert line.startswith("profile 'quick' (CONVLIB_PROFILE unset") and "'full'" in line


def test_the_announcement_names_a_chosen_profile(monkeypatch):
    monkeypatch.setenv("CONVLIB_PROFILE", "smoke")
    assert profiles.announce_profile().startswith(
        "profile 'smoke' (CONVLIB_PROFILE=smoke): CI check"
    )


def test_bad_profile_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv("CONVLIB_PROFILE", "huge")
    with pytest.raises(ValueError, match="smoke.*quick.*cpu.*full"):
        profiles.get_profile()


def test_full_profile_meets_the_issue_budget():
    full = profiles.PROFILES["full"]
    assert full.train_size is None and full.epochs >= 30 and len(full.seeds) >= 3


def test_a_description_is_written_from_the_fields():
    from dataclasses import replace

    from convlib.profiles import PROFILES

    assert PROFILES["quick"].description == (
        "laptop CPU: 8,000 training images, 6 epochs, 5,000 test images, 2 seeds")
    assert PROFILES["cpu"].description == (
        "CPU reference: all 50,000 training and 10,000 test images, 4 epochs, 3 seeds")
    longer = replace(PROFILES["smoke"], epochs=7, seeds=(0,), test_size=None)
    assert longer.description == (
        "CI check: 1,000 training images, 7 epochs, 10,000 test images, 1 seed")
