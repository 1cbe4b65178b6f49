"""Optional login: hashing, the failed-login limit, roles, and the gate in the app."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis import auth

ROOT = Path(__file__).resolve().parent.parent


def test_hash_is_salted_and_verifies():
    first, second = auth.hash_password("s3cret"), auth.hash_password("s3cret")
    assert first != second  # a new salt each time
    assert first.startswith("scrypt$16384$8$1$")
    assert auth.verify_password("s3cret", first) and auth.verify_password("s3cret", second)
    assert not auth.verify_password("S3cret", first)


def test_unknown_names_are_checked_against_a_real_hash_at_the_current_cost():
    # The dummy is written out (hashing it at import would slow every start); it must stay
    # the hash it names, at the cost real hashes use, so an unknown name takes as long.
    assert auth._DUMMY == auth.hash_password("not a real password", salt=b"\0" * 16)


@pytest.mark.parametrize("stored", ["", "plain", "md5$x$y", "scrypt$a$b$c$d$e", None])
def test_malformed_hashes_never_match(stored):
    assert not auth.verify_password("anything", stored)


def test_empty_password_cannot_be_hashed():
    with pytest.raises(ValueError, match="cannot be empty"):
        auth.hash_password("")


def test_users_need_a_known_role_and_a_hash():
    with pytest.raises(ValueError, match="role must be one of"):
        auth.users_from_config({"users": {"eve": {"role": "root", "password_hash": "x"}}})
    with pytest.raises(ValueError, match="no password_hash"):
        auth.users_from_config({"users": {"eve": {"role": "viewer"}}})
    assert auth.users_from_config({}) == {}


def test_failed_logins_lock_the_user_for_a_while(caplog):
    users = {"ana": auth.User("ana", "viewer", auth.hash_password("right"))}
    limiter = auth.LoginLimiter(max_failures=3, window=60, lockout=120)
    with caplog.at_level("WARNING", logger="playbook_impact.auth"):
        for t in (0, 1, 2):
            assert limiter.attempt(users, "ana", "wrong", now=t) is None
    assert "login failed for 'ana'" in caplog.text
    # Locked: even the right password is refused until the lockout ends.
    assert limiter.attempt(users, "ana", "right", now=3) is None
    assert limiter.seconds_locked("ana", now=3) == pytest.approx(119)
    assert limiter.attempt(users, "ana", "right", now=200).role == "viewer"


def test_viewers_cannot_import():
    assert auth.can_import("admin") and not auth.can_import("viewer")
    assert not auth.can_import(None)


def _app(tmp_path, monkeypatch, users=None):
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(tmp_path / "auth.duckdb"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if users:
        at.secrets["auth"] = {"users": users}
    return at


def test_app_without_secrets_needs_no_login(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch).run()
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "auth_password"]


def test_app_with_users_asks_for_a_password(tmp_path, monkeypatch):
    users = {"vera": {"role": "viewer", "password_hash": auth.hash_password("pw-vera")}}
    at = _app(tmp_path, monkeypatch, users).run()
    assert not at.exception
    at.text_input(key="auth_name").input("vera")
    at.text_input(key="auth_password").input("nope")
    at.button[0].click().run()
    assert "wrong" in at.error[0].value
    at.text_input(key="auth_password").input("pw-vera")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["auth_role"] == "viewer"
