"""The access rules: SMART scopes against principals, roles, route templates (one case a row)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.auth.model import Principal, Role
from hub.auth.policy import RULES, allowed, rule_for, template_key

PERSON = Principal("user:alice", "user", "Alice", frozenset())
SYSTEM = Principal("client:lab", "client", "lab", frozenset())
PATIENT = Principal("client:app", "client", "app", frozenset(), patients=("urn:oid:x|1",))
READ_DOCS = rule_for("GET", "/fhir/DocumentReference")
WRITE_DOCS = rule_for("POST", "/fhir")


@pytest.mark.parametrize(("principal", "scope", "rule", "expected"), [
    (SYSTEM, "system/*.read", READ_DOCS, True),
    (SYSTEM, "system/*.read", WRITE_DOCS, False),
    (SYSTEM, "system/DocumentReference.write", WRITE_DOCS, True),
    (SYSTEM, "system/DocumentReference.cud", WRITE_DOCS, True),
    (SYSTEM, "system/DocumentReference.rs", READ_DOCS, True),
    (SYSTEM, "system/Patient.read", READ_DOCS, False),
    (SYSTEM, "user/*.read", READ_DOCS, False),
    (PERSON, "user/DocumentReference.read", READ_DOCS, True),
    (PERSON, "system/*.read", READ_DOCS, False),
    (SYSTEM, "patient/DocumentReference.read", READ_DOCS, False),
    (PATIENT, "patient/DocumentReference.read", READ_DOCS, True),
    (PATIENT, "patient/*.*", WRITE_DOCS, True),
    (SYSTEM, "system/*.read", rule_for("GET", "/api/messages"), False),
], ids=lambda v: v if isinstance(v, str | bool) else None)
def test_a_smart_scope_grants_what_its_context_allows(
        principal: Principal, scope: str, rule: object, expected: bool) -> None:
    assert rule is not None
    scoped = replace(principal, scopes=frozenset({scope}))
    assert allowed(scoped, rule) is expected  # type: ignore[arg-type]


def test_scopes_replace_roles_on_fhir_routes_only() -> None:
    reader = replace(SYSTEM, roles=frozenset({Role.DOCUMENT_READER, Role.OPERATOR}),
                     scopes=frozenset({"system/Patient.read"}))
    assert READ_DOCS is not None
    assert allowed(reader, READ_DOCS) is False
    messages = rule_for("GET", "/api/messages")
    assert messages is not None and allowed(reader, messages) is True


def test_admin_holds_every_permission() -> None:
    admin = Principal("admin", "admin", "admin", frozenset({Role.ADMIN}))
    assert all(allowed(admin, rule) for rule in RULES)


def test_templates_match_whatever_the_parameters_are_called() -> None:
    assert template_key("HEAD", "/fhir/Binary/{doc_id}") == ("GET", "/fhir/Binary/{}")
    rule = rule_for("GET", "/api/messages/{anything}/raw")
    assert rule is not None and rule.permission == "messages.raw"
    assert rule_for("DELETE", "/api/messages/{message_id}") is None


def test_every_rule_is_unique_and_well_formed() -> None:
    keys = [template_key(r.method, r.path) for r in RULES]
    assert len(keys) == len(set(keys))
    for rule in RULES:
        assert rule.action in ("C", "R", "U", "D", "E")
        assert rule.audit in ("phi", "admin", None)
        if rule.method != "GET":
            assert rule.audit is not None, rule  # every change is recorded
