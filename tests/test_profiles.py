"""convlib.profiles: one place reads CONVLIB_PROFILE; bad names list the valid ones."""

import pytest

from convlib import profiles


def test_env_var_selects_the_profile(monkeypatch):
    for name in profiles.PROFILE_NAMES:
        monkeypatch.setenv("CONVLIB_PROFILE", name)
        assert profiles.get_profile().name == name


def test_unset_means_full_on_gpu_and_quick_on_cpu(monkeypatch):
    import torch

    monkeypatch.delenv("CONVLIB_PROFILE", raising=False)
    assert profiles.active_profile_name() == ("full" if torch.cuda.is_available() else "quick")


def test_bad_profile_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv("CONVLIB_PROFILE", "huge")
    with pytest.raises(ValueError, match="smoke.*quick.*full"):
        profiles.get_profile()


def test_full_profile_meets_the_issue_budget():
    full = profiles.PROFILES["full"]
    assert full.train_size is None and full.epochs >= 30 and len(full.seeds) >= 3
