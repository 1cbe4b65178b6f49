"""Every setting is declared once, documented in the README, overridable by environment, and
resolved once per request into a frozen, hashable `Settings`."""
import dataclasses
from pathlib import Path

import pytest

from analysis import settings
from analysis.settings import SETTINGS, Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(settings.SETTINGS))
def test_readme_documents_every_setting(name):
    assert f"| `{name}` |" in README, f"README's settings table lacks {name}"


def test_the_dataclass_has_one_field_per_declared_setting_with_its_default():
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert fields == {name: s.default for name, s in SETTINGS.items()}
    assert Settings() == Settings.resolve(environ={})


def test_settings_are_frozen_and_hashable():
    resolved = Settings.resolve(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolved.alpha = 0.1
    assert hash(resolved) == hash(Settings())
    assert {resolved: "cache key"}[Settings()] == "cache key"
    assert hash(resolved.replace(alpha=0.1)) != hash(resolved)


def test_the_environment_is_read_once_at_resolution(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_ALPHA", "0.1")
    resolved = Settings.resolve()
    monkeypatch.setenv("PLAYBOOK_IMPACT_ALPHA", "0.01")
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "6")
    assert (resolved.alpha, resolved.window_months) == (0.1, 12)
    assert (Settings.resolve().alpha, Settings.resolve().window_months) == (0.01, 6)


def test_environment_overrides_a_setting_with_its_type(monkeypatch):
    assert Settings.resolve().follower_threshold == 0.8
    monkeypatch.setenv("PLAYBOOK_IMPACT_FOLLOWER_THRESHOLD", "0.75")
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "6")
    monkeypatch.setenv("PLAYBOOK_IMPACT_LAUNCH_DATE", "2024-09-01")
    monkeypatch.setenv("PLAYBOOK_IMPACT_PROPENSITY_TRIM", "Crump")
    resolved = Settings.resolve()
    assert resolved.follower_threshold == 0.75
    assert resolved.window_months == 6
    assert resolved.launch_date == "2024-09-01"
    assert resolved.propensity_trim == "crump"


def test_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "6")
    resolved = Settings.resolve(window_months=9, as_of="2025-03-31")
    assert (resolved.window_months, resolved.as_of) == (9, "2025-03-31")
    assert resolved.replace(window_months=3).as_of == "2025-03-31"


def test_a_malformed_override_names_the_variable(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "twelve")
    with pytest.raises(ValueError, match="PLAYBOOK_IMPACT_WINDOW_MONTHS='twelve'"):
        Settings.resolve()


@pytest.mark.parametrize("change, message", [
    ({"alpha": 1.5}, "'alpha' must be strictly between 0 and 1"),
    ({"window_months": "12"}, "'window_months' must be of type int"),
    ({"launch_date": "soon"}, "'launch_date' must be an ISO date"),
    ({"propensity_trim": "wide"}, "'propensity_trim' must be of type float or 'crump'"),
])
def test_values_are_validated(change, message):
    with pytest.raises(ValueError, match=message):
        Settings().replace(**change)


def test_unknown_setting_is_an_error():
    with pytest.raises(KeyError, match="no setting named 'nope'"):
        Settings.resolve(nope=1)
    with pytest.raises(KeyError, match="no setting named 'nope'"):
        Settings().replace(nope=1)


def test_equal_values_make_equal_settings():
    assert Settings(follower_threshold=1) == Settings(follower_threshold=1.0)
    assert Settings(playbooks_dir=Path("/tmp")) == Settings(playbooks_dir="/tmp")


def test_reported_settings_leave_out_paths():
    reported = Settings().reported()
    assert reported["alpha"] == 0.05 and "db_path" not in reported
    assert not [name for name in reported if name.endswith(("_path", "_dir"))]
