"""Every setting is declared once, documented in the README, and overridable by environment."""
from pathlib import Path

import pytest

from analysis import settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(settings.SETTINGS))
def test_readme_documents_every_setting(name):
    assert f"| `{name}` |" in README, f"README's settings table lacks {name}"


def test_environment_overrides_a_setting_with_its_type(monkeypatch):
    assert settings.default("follower_threshold") == 0.8
    monkeypatch.setenv("PLAYBOOK_IMPACT_FOLLOWER_THRESHOLD", "0.75")
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "6")
    monkeypatch.setenv("PLAYBOOK_IMPACT_LAUNCH_DATE", "2024-09-01")
    assert settings.default("follower_threshold") == 0.75
    assert settings.default("window_months") == 6
    assert settings.default("launch_date") == "2024-09-01"


def test_a_malformed_override_names_the_variable(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "twelve")
    with pytest.raises(ValueError, match="PLAYBOOK_IMPACT_WINDOW_MONTHS='twelve'"):
        settings.default("window_months")


def test_unknown_setting_is_an_error():
    with pytest.raises(KeyError, match="no setting named"):
        settings.default("nope")


def test_override_wins_over_the_environment_inside_its_block_only(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "6")
    with settings.override(window_months=9, as_of="2025-03-31"):
        assert settings.default("window_months") == 9
        assert settings.default("as_of") == "2025-03-31"
        with settings.override(window_months=3):
            assert settings.default("window_months") == 3
            assert settings.default("as_of") == "2025-03-31"
        assert settings.default("window_months") == 9
    assert settings.default("window_months") == 6
    assert settings.default("as_of") is None
    with pytest.raises(KeyError, match="no setting named 'nope'"):
        with settings.override(nope=1):
            pass
