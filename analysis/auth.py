"""Optional login: salted password hashes, roles, and a limit on failed attempts.

Off by default (local use). A deployment turns it on by listing users in Streamlit secrets
(`.streamlit/secrets.toml`, never committed):

    [auth.users.alice]
    role = "admin"            # admin: everything; viewer: read-only (no import)
    password_hash = "scrypt$16384$8$1$<salt hex>$<hash hex>"

`python -m analysis hash-password` prints a hash to paste there; no password is ever stored.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("playbook_impact.auth")

ROLES = ("admin", "viewer")
# scrypt cost: ~50 ms per check on a laptop core, far too slow to brute-force a leaked hash.
_N, _R, _P = 2 ** 14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A salted scrypt hash as 'scrypt$N$r$p$salt$hash' (hex)."""
    if not password:
        raise ValueError("a password cannot be empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored hash; malformed hashes never match."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(bytes.fromhex(expected)))
    except (ValueError, AttributeError):
        return False
    return hmac.compare_digest(digest.hex(), expected)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str


def users_from_config(config) -> dict[str, User]:
    """Users from the secrets' `auth.users` table; an empty dict means login is off."""
    users = {}
    for name, entry in dict((config or {}).get("users", {})).items():
        role = entry.get("role", "viewer")
        if role not in ROLES:
            raise ValueError(f"user {name!r}: role must be one of {', '.join(ROLES)}, not {role!r}")
        if not entry.get("password_hash"):
            raise ValueError(f"user {name!r} has no password_hash")
        users[name] = User(name, role, entry["password_hash"])
    return users


def can_import(role: str | None) -> bool:
    return role == "admin"


@dataclass
class LoginLimiter:
    """After `max_failures` failed logins for a user within `window` seconds, refuse that user
    for `lockout` seconds, so a password cannot be guessed at speed. Thread-safe."""
    max_failures: int = 5
    window: float = 900.0
    lockout: float = 300.0
    _failures: dict = field(default_factory=dict)
    _locked_until: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def seconds_locked(self, user: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            return max(0.0, self._locked_until.get(user, 0.0) - now)

    def attempt(self, users: dict[str, User], name: str, password: str,
                now: float | None = None) -> User | None:
        """The user when the password is right; None (and a logged failure) otherwise."""
        now = time.monotonic() if now is None else now
        if self.seconds_locked(name, now) > 0:
            log.warning("login refused for %r: locked after repeated failures", name)
            return None
        user = users.get(name)
        # Verify against a dummy hash for unknown names too, so timing does not reveal them.
        ok = verify_password(password, user.password_hash if user else _DUMMY)
        with self._lock:
            if ok and user:
                self._failures.pop(name, None)
                log.info("login ok for %r (%s)", name, user.role)
                return user
            recent = [t for t in self._failures.get(name, []) if now - t < self.window]
            recent.append(now)
            self._failures[name] = recent
            if len(recent) >= self.max_failures:
                self._locked_until[name] = now + self.lockout
                self._failures[name] = []
        log.warning("login failed for %r (%d recent failures)", name, len(recent))
        return None


# hash_password("not a real password", salt=16 zero bytes), written out: hashing it here would
# cost every start of the app a scrypt round (~0.1 s) before the first page is drawn.
_DUMMY = ("scrypt$16384$8$1$00000000000000000000000000000000$"
          "fb7799925ecb7eddfc50603dcc0e86a3740a4e2c721e28c1c74806709767cf2b")
