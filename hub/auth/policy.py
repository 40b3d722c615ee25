"""What each principal may do on the HTTP interfaces: one table, read in one place.

Every route the application serves has a rule ``(method, path template) ->
permission``; a route without a rule is refused (deny by default) and a test
enumerating the application's routes fails. A rule also says what the audit
trail records of it: ``audit`` is ``"phi"`` (patient data read or written),
``"admin"`` (an administrative action) or None, ``action`` the IHE BALP /
FHIR AuditEvent action code (C create, R read, U update, D delete,
E execute). A rule whose permission is None is public.

Roles grant permissions (:data:`ROLE_PERMISSIONS`; ``admin`` holds all).
For FHIR routes a principal whose credential carries SMART scopes is decided
by its scopes instead of its roles (SMART App Launch 2.0 section 3:
``patient/``, ``user/``, ``system/`` context, a resource type or ``*``,
``read``/``write``/``*`` or the v2 letters ``cruds``): ``patient/`` scopes
count only for a principal bound to patients, ``user/`` ones only for a
person, ``system/`` ones only for a system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hub.auth.model import Principal, Role

Audit = Literal["phi", "admin"] | None
Action = Literal["C", "R", "U", "D", "E"]


@dataclass(frozen=True, slots=True)
class AccessRule:
    """One route's permission and what the audit trail records of it."""

    method: str
    path: str
    permission: str | None
    audit: Audit = None
    action: Action = "R"

    @property
    def public(self) -> bool:
        """True when no credential is needed."""
        return self.permission is None

    @property
    def fhir_resource(self) -> str | None:
        """The FHIR resource type of a ``fhir:<Type>.<read|write>`` permission."""
        if self.permission and self.permission.startswith("fhir:"):
            return self.permission[5:].rsplit(".", 1)[0]
        return None


def _r(method: str, path: str, permission: str | None, audit: Audit = None,
       action: Action = "R") -> AccessRule:
    return AccessRule(method, path, permission, audit, action)


PUBLIC: None = None
AUTHENTICATED = "auth.self"
"""Any authenticated principal (``/api/auth/me``, logout)."""

RULES: tuple[AccessRule, ...] = (
    # open: probes, the API description and its pages, the CapabilityStatement
    # (FHIR R4 3.1.0.8: clients read it before they authenticate), logging in.
    _r("GET", "/healthz", PUBLIC), _r("GET", "/readyz", PUBLIC),
    _r("GET", "/openapi.json", PUBLIC), _r("GET", "/docs", PUBLIC),
    _r("GET", "/docs/oauth2-redirect", PUBLIC), _r("GET", "/redoc", PUBLIC),
    _r("GET", "/fhir/metadata", PUBLIC),
    _r("POST", "/api/auth/login", PUBLIC, "admin", "E"),
    _r("POST", "/oauth/token", PUBLIC, "admin", "E"),
    _r("POST", "/api/auth/logout", AUTHENTICATED, "admin", "E"),
    _r("GET", "/api/auth/me", AUTHENTICATED),
    # supervision
    _r("GET", "/metrics", "metrics.read"),
    _r("GET", "/api/queues", "queues.read"),
    _r("GET", "/api/parked", "parked.read", "phi"),
    _r("POST", "/api/parked/redrive", "parked.redrive", "admin", "E"),
    _r("GET", "/api/messages", "messages.read", "phi"),
    _r("GET", "/api/messages/{}", "messages.read", "phi"),
    _r("GET", "/api/messages/{}/raw", "messages.raw", "phi"),
    _r("POST", "/api/messages/{}/replay", "messages.replay", "admin", "E"),
    _r("POST", "/api/messages/{}/resend", "messages.replay", "admin", "E"),
    # identity (SRRI) review
    _r("GET", "/api/identity/reviews", "identity.review", "phi"),
    _r("GET", "/api/identity/reviews/{}", "identity.review", "phi"),
    _r("POST", "/api/identity/reviews/{}/decision", "identity.decide", "phi", "U"),
    _r("GET", "/api/identity/identities/{}", "identity.review", "phi"),
    # FHIR: PIXm, PDQm, $match
    _r("GET", "/fhir/Patient", "fhir:Patient.read", "phi"),
    _r("GET", "/fhir/Patient/{}", "fhir:Patient.read", "phi"),
    _r("GET", "/fhir/Patient/$ihe-pix", "fhir:Patient.read", "phi"),
    _r("POST", "/fhir/Patient/$match", "fhir:Patient.read", "phi", "E"),
    # FHIR: MHD (ITI-65, 66, 67, 68) and the plain upload
    _r("POST", "/fhir", "fhir:DocumentReference.write", "phi", "C"),
    _r("POST", "/fhir/", "fhir:DocumentReference.write", "phi", "C"),
    _r("POST", "/fhir/Binary", "fhir:DocumentReference.write", "phi", "C"),
    _r("POST", "/documents", "fhir:DocumentReference.write", "phi", "C"),
    _r("GET", "/fhir/DocumentReference", "fhir:DocumentReference.read", "phi"),
    _r("GET", "/fhir/DocumentReference/{}", "fhir:DocumentReference.read", "phi"),
    _r("GET", "/fhir/Binary/{}", "fhir:DocumentReference.read", "phi"),
    _r("GET", "/fhir/List", "fhir:List.read", "phi"),
    # FHIR: imaging and its supervision
    _r("GET", "/fhir/ImagingStudy", "fhir:ImagingStudy.read", "phi"),
    _r("GET", "/fhir/ImagingStudy/{}", "fhir:ImagingStudy.read", "phi"),
    _r("GET", "/api/imaging/studies", "imaging.read", "phi"),
    # MSSanté directory and mailbox
    _r("GET", "/api/mssante/directory/{}", "mssante.directory.read"),
    _r("PUT", "/api/mssante/directory/{}", "mssante.directory.write", "admin", "U"),
    _r("POST", "/api/mssante/directory", "mssante.directory.write", "admin", "U"),
    _r("POST", "/api/mssante/poll", "mssante.poll", "admin", "E"),
    # the audit trail (IHE BALP: reading it is itself recorded)
    _r("GET", "/fhir/AuditEvent", "audit.read", "phi"),
    _r("GET", "/fhir/AuditEvent/{}", "audit.read", "phi"),
)

_FHIR_READS = ("fhir:Patient.read", "fhir:DocumentReference.read", "fhir:List.read",
               "fhir:ImagingStudy.read")

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(),  # every permission: see :func:`allowed`
    Role.OPERATOR: frozenset({
        "metrics.read", "queues.read", "parked.read", "parked.redrive", "messages.read",
        "messages.raw", "messages.replay", "imaging.read", "mssante.directory.read",
        "mssante.directory.write", "mssante.poll"}),
    Role.AUDITOR: frozenset({"audit.read"}),
    Role.IDENTITY_REVIEWER: frozenset({"identity.review", "identity.decide"}),
    Role.DOCUMENT_READER: frozenset(_FHIR_READS),
    Role.DOCUMENT_SOURCE: frozenset({"fhir:DocumentReference.write"}),
}
"""What each role may do (README "Access control")."""

_PARAMETER = re.compile(r"\{[^}]*\}")


def template_key(method: str, path: str) -> tuple[str, str]:
    """``(METHOD, path)`` with every ``{parameter}`` written ``{}`` (HEAD reads as GET)."""
    verb = method.upper()
    return ("GET" if verb == "HEAD" else verb), _PARAMETER.sub("{}", path)


_BY_ROUTE = {template_key(r.method, r.path): r for r in RULES}


def rule_for(method: str, path_template: str) -> AccessRule | None:
    """The rule of a route (its path template, as the router declares it), None if none."""
    return _BY_ROUTE.get(template_key(method, path_template))


def _role_grants(principal: Principal, permission: str) -> bool:
    return any(permission in ROLE_PERMISSIONS.get(role, frozenset())
               for role in principal.roles)


def _scope_context_fits(context: str, principal: Principal) -> bool:
    if context == "patient":
        return bool(principal.patients)
    if context == "user":
        return principal.is_person
    return not principal.is_person


def scope_grants(scope: str, principal: Principal, resource: str, write: bool) -> bool:
    """Whether one SMART scope lets ``principal`` read (or write) ``resource``."""
    context, _, rest = scope.partition("/")
    kind, _, permissions = rest.partition("?")[0].rpartition(".")
    if kind not in ("*", resource) or not _scope_context_fits(context, principal):
        return False
    if permissions in ("*", "write" if write else "read"):
        return True
    letters = set(permissions) if permissions not in ("read", "write") else set()
    return bool(letters & ({"c", "u"} if write else {"r", "s"}))


def allowed(principal: Principal, rule: AccessRule) -> bool:
    """Whether ``principal`` may use the route of ``rule`` (module docstring)."""
    permission = rule.permission
    if permission is None or Role.ADMIN in principal.roles:
        return True
    if permission == AUTHENTICATED:
        return True
    resource = rule.fhir_resource
    if resource is not None and principal.scopes:
        write = permission.endswith(".write")
        return any(scope_grants(s, principal, resource, write) for s in principal.scopes)
    return _role_grants(principal, permission)
