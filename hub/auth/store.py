"""Users, clients and the tokens issued to them, in the hub's database.

* users (operators, people): a login, roles, and a password hashed with
  argon2id (``argon2-cffi``'s defaults: RFC 9106 section 4, second
  recommended option); login sessions are opaque tokens;
* clients (systems): roles, SMART scopes, the establishments they submit
  for, an API key and optionally a client-certificate fingerprint (mutual
  TLS); OAuth2 client-credentials access tokens (RFC 6749 4.4) are opaque
  tokens too.

Secrets are shown once, when made, and stored as their SHA-256. A fast hash
is right for these and slow hashing is not needed: every secret the hub makes
carries 256 random bits (``secrets.token_urlsafe(32)``), so no dictionary or
brute-force search can find one from its digest, unlike a password a person
chose, which is why passwords get argon2 instead. A fast digest also lets a
request be authenticated by one indexed lookup.

Secrets start with a prefix naming their kind (``hk_`` API key, ``hs_``
login session, ``ha_`` access token), so that the authenticator asks one
table and a leaked secret is recognisable by secret scanners.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, insert, select, update

from hub.auth.model import ActsAs, Principal, Role
from hub.db.committer import Write
from hub.db.engine import Database
from hub.db.tables import auth_clients, auth_tokens, auth_users
from hub.errors import HubError

API_KEY_PREFIX = "hk_"
SESSION_PREFIX = "hs_"
ACCESS_TOKEN_PREFIX = "ha_"
TokenKind = Literal["session", "access"]
_TOKEN_PREFIX: dict[TokenKind, str] = {"session": SESSION_PREFIX, "access": ACCESS_TOKEN_PREFIX}
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_hasher = PasswordHasher()
# Verified when the login is unknown, so that an unknown login costs the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class PrincipalError(HubError):
    """A user or client operation is refused; the message names the value."""


def new_secret(prefix: str) -> str:
    """A fresh secret of 256 random bits, URL-safe, starting with ``prefix``."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The SHA-256 (hex) under which ``secret`` is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_name(value: str, what: str) -> str:
    """A login or client name: lowercase letters, digits, ``._@-``, at most 64."""
    if not _NAME.fullmatch(value):
        raise PrincipalError(f"{what} {value!r} must be 1-64 of a-z 0-9 . _ @ - "
                             "(starting with a letter or digit)")
    return value


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Role names -> roles; an unknown name is an error listing the known ones."""
    roles = set()
    for value in values:
        try:
            roles.add(Role(value.strip()))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise PrincipalError(f"role {value!r} is not one of {known}") from None
    return frozenset(roles)


def parse_acts_as(value: str | None) -> ActsAs | None:
    """A reader's ``acts_as`` (professional, patient, legal-representative) or None."""
    if value is None or value == "":
        return None
    try:
        return ActsAs(value)
    except ValueError:
        known = ", ".join(a.value for a in ActsAs)
        raise PrincipalError(f"acts-as {value!r} is not one of {known}") from None


def normalise_fingerprint(value: str | None) -> str | None:
    """A SHA-256 certificate fingerprint as lowercase hex (colons dropped)."""
    if value is None or value == "":
        return None
    bare = value.replace(":", "").strip().lower()
    if not _FINGERPRINT.fullmatch(bare):
        raise PrincipalError(f"certificate fingerprint {value!r} is not a SHA-256 (64 hex)")
    return bare


@dataclass(frozen=True, slots=True)
class UserRecord:
    """An operator as stored (no password hash)."""

    login: str
    display_name: str
    roles: frozenset[Role]
    acts_as: ActsAs | None
    disabled: bool
    created_at: float
    rotated_at: float

    def principal(self) -> Principal:
        """The principal of this user's requests."""
        return Principal(id=f"user:{self.login}", kind="user", name=self.display_name,
                         roles=self.roles, acts_as=self.acts_as)


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A system as stored (no key)."""

    name: str
    roles: frozenset[Role]
    scopes: frozenset[str]
    establishments: tuple[str, ...]
    patients: tuple[str, ...]
    acts_as: ActsAs | None
    source: str | None
    cert_sha256: str | None
    disabled: bool
    created_at: float
    rotated_at: float

    def principal(self) -> Principal:
        """The principal of this client's requests."""
        return Principal(id=f"client:{self.name}", kind="client", name=self.name,
                         roles=self.roles, scopes=self.scopes,
                         establishments=self.establishments, acts_as=self.acts_as,
                         patients=self.patients, source=self.source)


@dataclass(frozen=True, slots=True)
class NewClient:
    """What ``hub clients add`` asks for."""

    name: str
    roles: Sequence[str]
    scopes: Sequence[str] = ()
    establishments: Sequence[str] = ()
    patients: Sequence[str] = ()
    acts_as: str | None = None
    source: str | None = None
    cert_sha256: str | None = None


def _user(row: Any) -> UserRecord:
    return UserRecord(row.login, row.display_name, parse_roles(json.loads(row.roles)),
                      parse_acts_as(row.acts_as), bool(row.disabled), row.created_at,
                      row.rotated_at)


def _client(row: Any) -> ClientRecord:
    return ClientRecord(
        row.name, parse_roles(json.loads(row.roles)), frozenset(json.loads(row.scopes)),
        tuple(json.loads(row.establishments)), tuple(json.loads(row.patients)),
        parse_acts_as(row.acts_as), row.source, row.cert_sha256, bool(row.disabled),
        row.created_at, row.rotated_at)


class PrincipalStore:
    """Users, clients and tokens of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        u, c, t = auth_users.c, auth_clients.c, auth_tokens.c
        self._user_update = update(auth_users).where(u.login == bindparam("b_login"))
        self._client_update = update(auth_clients).where(c.name == bindparam("b_name"))
        self._revoke_subject = update(auth_tokens).where(
            t.kind == bindparam("b_kind"), t.subject == bindparam("b_subject")).values(
            revoked=True)
        self._revoke_token = update(auth_tokens).where(
            t.token_hash == bindparam("b_hash")).values(revoked=True)

    async def _write(self, *ops: Write) -> None:
        await self.db.committer.run(*ops, urgent=True)

    # -- users ----------------------------------------------------------------

    async def add_user(self, login: str, display_name: str, roles: Sequence[str],
                       password: str, acts_as: str | None = None) -> UserRecord:
        """Create an operator; the login must be new."""
        check_name(login, "login")
        parsed, reader = parse_roles(roles), parse_acts_as(acts_as)
        check_password_strength(password)
        if await self.user(login) is not None:
            raise PrincipalError(f"user {login!r} already exists")
        now = time.time()
        await self._write(Write(insert(auth_users), {
            "login": login, "display_name": display_name or login,
            "roles": json.dumps(sorted(parsed)), "acts_as": reader.value if reader else None,
            "password_hash": _hasher.hash(password), "disabled": False,
            "created_at": now, "rotated_at": now}))
        found = await self.user(login)
        assert found is not None
        return found

    async def users(self) -> list[UserRecord]:
        """Every user, by login."""
        rows = await self.db.fetch(select(auth_users).order_by(auth_users.c.login))
        return [_user(r) for r in rows]

    async def user(self, login: str) -> UserRecord | None:
        """One user, None when unknown."""
        rows = await self.db.fetch(select(auth_users).where(auth_users.c.login == login))
        return _user(rows[0]) if rows else None

    async def _known_user(self, login: str) -> UserRecord:
        found = await self.user(login)
        if found is None:
            raise PrincipalError(f"user {login!r} is not known")
        return found

    async def set_password(self, login: str, password: str) -> None:
        """Replace a user's password; their open sessions are revoked."""
        await self._known_user(login)
        check_password_strength(password)
        await self._write(
            Write(self._user_update.values(password_hash=bindparam("b_hash"),
                                           rotated_at=bindparam("b_at")),
                  {"b_login": login, "b_hash": _hasher.hash(password), "b_at": time.time()}),
            Write(self._revoke_subject, {"b_kind": "session", "b_subject": login}))

    async def disable_user(self, login: str) -> None:
        """Refuse a user's logins and revoke their sessions."""
        await self._known_user(login)
        await self._write(
            Write(self._user_update.values(disabled=True), {"b_login": login}),
            Write(self._revoke_subject, {"b_kind": "session", "b_subject": login}))

    async def check_password(self, login: str, password: str) -> UserRecord | None:
        """The enabled user whose password this is, else None (same work either way)."""
        rows = await self.db.fetch(select(auth_users).where(auth_users.c.login == login))
        stored = rows[0].password_hash if rows else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if not rows or rows[0].disabled:
            return None
        return _user(rows[0])

    # -- tokens (login sessions, access tokens) ----------------------------------

    async def open_token(self, kind: TokenKind, subject: str, ttl_s: float) -> str:
        """Issue a token for ``subject`` (a login or a client name), valid ``ttl_s``."""
        token = new_secret(_TOKEN_PREFIX[kind])
        now = time.time()
        await self._write(Write(insert(auth_tokens), {
            "token_hash": digest(token), "kind": kind, "subject": subject,
            "created_at": now, "expires_at": now + ttl_s, "revoked": False}))
        return token

    async def token_subject(self, token: str) -> tuple[TokenKind, str, float] | None:
        """Kind, subject and expiry of a valid token; None when unknown, expired, revoked."""
        rows = await self.db.fetch(select(auth_tokens).where(
            auth_tokens.c.token_hash == digest(token)))
        if not rows or rows[0].revoked or rows[0].expires_at <= time.time():
            return None
        kind: TokenKind = "session" if rows[0].kind == "session" else "access"
        return kind, str(rows[0].subject), float(rows[0].expires_at)

    async def revoke_token(self, token: str) -> None:
        """Revoke one token (logout)."""
        await self._write(Write(self._revoke_token, {"b_hash": digest(token)}))

    # -- clients ----------------------------------------------------------------

    async def add_client(self, new: NewClient) -> tuple[ClientRecord, str]:
        """Create a client; return it and its API key (shown once)."""
        check_name(new.name, "client name")
        roles, reader = parse_roles(new.roles), parse_acts_as(new.acts_as)
        scopes = [check_scope(s) for s in new.scopes]
        for patient in new.patients:
            check_patient(patient)
        fingerprint = normalise_fingerprint(new.cert_sha256)
        if await self.client(new.name) is not None:
            raise PrincipalError(f"client {new.name!r} already exists")
        key, now = new_secret(API_KEY_PREFIX), time.time()
        await self._write(Write(insert(auth_clients), {
            "name": new.name, "roles": json.dumps(sorted(roles)),
            "scopes": json.dumps(sorted(set(scopes))),
            "establishments": json.dumps(list(new.establishments)),
            "patients": json.dumps(list(new.patients)),
            "acts_as": reader.value if reader else None, "source": new.source or None,
            "key_hash": digest(key), "cert_sha256": fingerprint, "disabled": False,
            "created_at": now, "rotated_at": now}))
        found = await self.client(new.name)
        assert found is not None
        return found, key

    async def clients(self) -> list[ClientRecord]:
        """Every client, by name."""
        rows = await self.db.fetch(select(auth_clients).order_by(auth_clients.c.name))
        return [_client(r) for r in rows]

    async def client(self, name: str) -> ClientRecord | None:
        """One client, None when unknown."""
        rows = await self.db.fetch(select(auth_clients).where(auth_clients.c.name == name))
        return _client(rows[0]) if rows else None

    async def _known_client(self, name: str) -> ClientRecord:
        found = await self.client(name)
        if found is None:
            raise PrincipalError(f"client {name!r} is not known")
        return found

    async def client_by_key(self, key: str) -> ClientRecord | None:
        """The enabled client holding API key ``key``."""
        rows = await self.db.fetch(select(auth_clients).where(
            auth_clients.c.key_hash == digest(key)))
        return _client(rows[0]) if rows and not rows[0].disabled else None

    async def client_by_certificate(self, fingerprint: str) -> ClientRecord | None:
        """The enabled client bound to the certificate with this SHA-256 fingerprint."""
        rows = await self.db.fetch(select(auth_clients).where(
            auth_clients.c.cert_sha256 == fingerprint.lower()))
        enabled = [r for r in rows if not r.disabled]
        return _client(enabled[0]) if len(enabled) == 1 else None

    async def rotate_key(self, name: str) -> str:
        """A new API key for ``name`` (shown once); the old key and tokens stop working."""
        await self._known_client(name)
        key = new_secret(API_KEY_PREFIX)
        await self._write(
            Write(self._client_update.values(key_hash=bindparam("b_hash"),
                                             rotated_at=bindparam("b_at")),
                  {"b_name": name, "b_hash": digest(key), "b_at": time.time()}),
            Write(self._revoke_subject, {"b_kind": "access", "b_subject": name}))
        return key

    async def disable_client(self, name: str) -> None:
        """Refuse a client's key, certificate and tokens."""
        await self._known_client(name)
        await self._write(
            Write(self._client_update.values(disabled=True), {"b_name": name}),
            Write(self._revoke_subject, {"b_kind": "access", "b_subject": name}))


MIN_PASSWORD = 12


def check_password_strength(password: str) -> None:
    """At least :data:`MIN_PASSWORD` characters (NIST SP 800-63B 5.1.1 asks 8 at least)."""
    if len(password) < MIN_PASSWORD:
        raise PrincipalError(f"the password has {len(password)} characters, "
                             f"at least {MIN_PASSWORD} are needed")


SCOPE = re.compile(r"(patient|user|system)/(\*|[A-Z][A-Za-z]+)\."
                   r"(read|write|\*|(?=[cruds])c?r?u?d?s?)(\?.*)?")
"""SMART App Launch 2.0 section 3.0.2: context/resource.permissions, optional query."""


def check_scope(scope: str) -> str:
    """A SMART App Launch scope (v1 ``.read``/``.write``/``.*``, v2 ``.cruds``)."""
    if not SCOPE.fullmatch(scope):
        raise PrincipalError(f"scope {scope!r} is not a SMART scope "
                             "(patient|user|system)/<Type or *>.<read|write|*|cruds>")
    return scope


def check_patient(identifier: str) -> str:
    """A patient a client is bound to: ``system|value`` (an INS, an IPP with its authority)."""
    system, bar, value = identifier.partition("|")
    if not bar or not system.strip() or not value.strip():
        raise PrincipalError(f"patient {identifier!r} is not system|value "
                             "(e.g. urn:oid:1.2.250.1.213.1.4.8|<NIR>)")
    return identifier
