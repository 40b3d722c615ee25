"""Settings: ``hub.yaml`` plus ``HUB_*`` environment overrides, validated at start.

One typed object, built by :func:`load_settings` from ``main``/the CLI, never at
import time. A bad value raises :class:`~hub.errors.ConfigError` naming the
key (``mllp.port: Input should be a valid integer, got 'abc'``).

Environment overrides: each entry of :data:`ENV_KEYS` maps a variable to a
dotted key; any other ``HUB_<SECTION>__<KEY>`` (double underscore) reaches a
nested key generically, e.g. ``HUB_MLLP__IDLE_TIMEOUT_S=60``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.errors import ConfigError

ENV_KEYS: dict[str, str] = {
    "HUB_DATA_DIR": "data_dir",
    "HUB_MLLP_HOST": "mllp.host",
    "HUB_MLLP_PORT": "mllp.port",
    "HUB_HTTP_HOST": "http.host",
    "HUB_HTTP_PORT": "http.port",
    "HUB_DICOM_PORT": "dicom.port",
    "HUB_BROKER_URL": "broker_url",
    "HUB_BROKER_PREFIX": "broker_prefix",
    "HUB_DATABASE_URL": "database_url",
    "HUB_ADMIN_TOKEN": "admin_token",
    "HUB_ROUTES_DIR": "routes_dir",
    "HUB_INS_TEST_MODE": "ins_test_mode",
    "HUB_LOG_LEVEL": "log_level",
    "HUB_LOG_PATIENT_DATA": "log_patient_data",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsSettings(_Model):
    """TLS material for a listener or a client connection."""

    certfile: Path | None = Field(None, description="PEM certificate chain")
    keyfile: Path | None = Field(None, description="PEM private key")
    cafile: Path | None = Field(None, description="CA bundle to verify the peer")
    require_client_cert: bool = Field(False, description="listeners: demand a client certificate")
    verify: bool = Field(True, description="clients: verify the server certificate")


class MllpSettings(_Model):
    """The MLLP listener."""

    enabled: bool = Field(True, description="start the MLLP listener")
    host: str = Field("127.0.0.1", description="address to bind; 0.0.0.0 to accept remote senders")
    port: int = Field(2575, ge=0, le=65535, description="TCP port (0 picks a free one)")
    max_message_bytes: int = Field(
        16 * 1024 * 1024, gt=0, description="larger frames are answered AR and discarded"
    )
    idle_timeout_s: float = Field(300.0, gt=0, description="close a silent connection after this")
    max_connections: int = Field(1024, gt=0, description="concurrent connections accepted")
    tls: TlsSettings | None = Field(None, description="serve MLLP over TLS when set")
    allow_plaintext: bool = Field(
        False, description="waive TLS on a non-loopback host (a VPN or TLS proxy in front)")


class HttpSettings(_Model):
    """The HTTP API (admin, FHIR, health, metrics)."""

    enabled: bool = Field(True, description="start the HTTP server")
    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free one)")
    allow_plaintext: bool = Field(
        False, description="waive TLS on a non-loopback host (a TLS proxy in front)")
    tls: TlsSettings | None = Field(
        None, description="serve HTTPS when set; with cafile, clients may present a "
        "certificate (mutual TLS) that identifies them")


class CertificateBinding(_Model):
    """The client certificate a source is known by (mutual TLS, RFC 8446 4.4.2).

    ``sha256`` pins one certificate (the SHA-256 of its DER encoding, hex,
    colons allowed); ``subject`` accepts any certificate the listener's CA
    verified with that subject distinguished name (RFC 4514 string, e.g.
    ``CN=gam.chu-x.example,O=CHU X,C=FR``), so that a renewal needs no change.
    """

    sha256: str | None = Field(
        None, pattern=r"^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$",
        description="SHA-256 fingerprint of the DER certificate (hex)")
    subject: str | None = Field(None, min_length=3, description="subject DN, RFC 4514")

    @model_validator(mode="after")
    def _one_of(self) -> CertificateBinding:
        if self.sha256 is None and self.subject is None:
            raise ValueError("certificate: set sha256, subject or both")
        return self

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint as :class:`~hub.auth.model.PeerCertificate` spells it (lowercase hex)."""
        return self.sha256.replace(":", "").lower() if self.sha256 else None

    @property
    def subject_key(self) -> str | None:
        """The subject compared case-insensitively, without blanks around separators."""
        return normalise_dn(self.subject) if self.subject else None


def normalise_dn(dn: str) -> str:
    """An RFC 4514 distinguished name in the form compared: no blanks around ``=``, ``,``
    and ``+``, case folded (RFC 4517 caseIgnoreMatch, approximately); escaped
    separators (a backslash before them) are kept as they are."""
    parts: list[str] = []
    current, escaped = "", False
    for char in dn:
        if not escaped and char in ",+":
            parts += [current, char]
            current = ""
            continue
        escaped = not escaped and char == "\\"
        current += char
    parts.append(current)
    pieces = []
    for part in parts:
        kind, sep, value = part.partition("=")
        pieces.append(f"{kind.strip()}={value.strip()}" if sep else part.strip())
    return "".join(pieces).casefold()


class DicomSourceSettings(_Model):
    """A DICOM sender allowed to associate: its calling AE titles and addresses."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="source name used in routes")
    ae_titles: list[str] = Field(min_length=1, description="calling AE titles accepted")
    addresses: list[str] = Field(
        default_factory=list, description="peer IP addresses or CIDR networks (any if empty)")
    patient_id_authority: str | None = Field(
        None, description="OID of the assigning authority of this site's PatientID, when "
        "IssuerOfPatientID does not say it")
    marker: str | None = Field(None, description="site name written by the source marker "
                               "(default: the source name)")
    certificate: CertificateBinding | None = Field(
        None, description="client certificate this source's associations present (dicom.tls "
        "with cafile); another certificate calling with its AE titles is rejected")
    require_certificate: bool = Field(
        False, description="reject an association with its AE titles without that certificate")

    @model_validator(mode="after")
    def _required_binding(self) -> DicomSourceSettings:
        if self.require_certificate and self.certificate is None:
            raise ValueError(f"dicom source '{self.name}': require_certificate needs certificate")
        return self


class DicomSettings(_Model):
    """The DICOM listener (C-ECHO, C-STORE, C-FIND) of the ``imaging`` component."""

    enabled: bool = Field(False, description="start the DICOM listener")
    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(11112, ge=0, le=65535, description="DICOM SCP port")
    ae_title: str = Field("HUB", min_length=1, max_length=16, description="called AE title")
    sources: list[DicomSourceSettings] = Field(
        default_factory=list, description="senders allowed; any other AE is refused")
    tls: TlsSettings | None = Field(None, description="DICOM over TLS (PS3.15 B.1) when set")
    allow_plaintext: bool = Field(
        False, description="waive TLS on a non-loopback host (a VPN in front)")
    max_pdu: int = Field(1048576, ge=0, description="largest PDU accepted (0: unlimited)")
    max_associations: int = Field(64, ge=1, description="concurrent associations")
    store_timeout_s: float = Field(60.0, gt=0, description="longest wait for storage "
                                   "before answering 0xA700")
    study_quiet_s: float = Field(30.0, gt=0, description="a study is complete after this "
                                 "long without a new instance")

    @model_validator(mode="after")
    def _bound_titles_unshared(self) -> DicomSettings:
        """A certificate-bound source's AE titles are its own: the certificate decides."""
        for bound in (s for s in self.sources if s.certificate is not None):
            for other in self.sources:
                shared = set(bound.ae_titles) & set(other.ae_titles)
                if other is not bound and shared:
                    raise ValueError(
                        f"dicom.sources: AE title {sorted(shared)[0]!r} of '{bound.name}' "
                        f"(bound to a certificate) is also listed by '{other.name}'")
        return self


class SourceSettings(_Model):
    """A known sender, recognised by MSH-3 / MSH-4, or by its client certificate when bound."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="source name used in routes")
    sending_application: str | None = Field(None, description="MSH-3.1 to match (any if unset)")
    sending_facility: str | None = Field(None, description="MSH-4.1 to match (any if unset)")
    strict: bool = Field(False, description="validate every message with hl7apy (slow path)")
    certificate: CertificateBinding | None = Field(
        None, description="client certificate this source presents (mllp.tls with cafile): "
        "a connection presenting it is this source, whatever MSH-3/MSH-4 say, and may send "
        "only this source's application and facility")
    require_certificate: bool = Field(
        False, description="refuse messages naming this source that arrive without its "
        "certificate (plain TCP, or TLS without a client certificate)")

    @model_validator(mode="after")
    def _required_binding(self) -> SourceSettings:
        if self.require_certificate and self.certificate is None:
            raise ValueError(f"source '{self.name}': require_certificate needs certificate")
        return self


class RetrySettings(_Model):
    """Exponential backoff with full jitter, then parking."""

    max_attempts: int = Field(8, ge=1, description="attempts before the delivery is parked")
    initial_s: float = Field(1.0, gt=0, description="first backoff")
    max_s: float = Field(300.0, gt=0, description="backoff ceiling")
    multiplier: float = Field(2.0, ge=1, description="growth per attempt")


class FileDestination(_Model):
    """Drop each message as a file, written atomically (temp file + rename)."""

    type: Literal["file"]
    directory: Path = Field(description="target directory, created when missing")
    suffix: str = Field(".hl7", description="file name suffix")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    ordered: bool = Field(True, description="keep per-patient order (retries hold the lane)")


class MllpDestination(_Model):
    """Forward to a downstream MLLP listener and wait for its ACK."""

    type: Literal["mllp"]
    host: str = Field(description="downstream host")
    port: int = Field(ge=1, le=65535, description="downstream port")
    timeout_s: float = Field(30.0, gt=0, description="wait this long for the ACK")
    connections: int = Field(4, ge=1, le=64, description="parallel connections (lanes)")
    on_ae: Literal["retry", "park"] = Field("retry", description="what an AE/CE answer does")
    on_ar: Literal["retry", "park"] = Field("park", description="what an AR/CR answer does")
    tls: TlsSettings | None = Field(None, description="connect over TLS when set")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    ordered: bool = Field(True, description="keep per-patient order (retries hold the lane)")


class SrriDestination(_Model):
    """The regional identity service consuming identity feeds (ADT)."""

    type: Literal["srri"]
    retry: RetrySettings = Field(default_factory=RetrySettings)
    # One lane: identity events are applied one at a time, in arrival order.
    lanes: Literal[1] = Field(1, description="always 1: events apply in order")
    ordered: bool = Field(True, description="retries hold the lane")


class RepositoryDestination(_Model):
    """File CI-SIS document messages (ORU/MDM carrying CDA) in the document repository."""

    type: Literal["repository"]
    lanes: int = Field(4, ge=1, le=64, description="messages filed in parallel (per patient)")
    acknowledgements: bool = Field(
        True, description="send ZAM^Z01 back through the hub when a sender asks "
        "(ACK_RECEPTION=Y); a route on message_type ZAM delivers it")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    ordered: bool = Field(True, description="keep per-patient order (retries hold the lane)")


class DicomCoercion(_Model):
    """What a ``dicom`` destination changes in each instance it sends (PS3.3 C.7.1.1)."""

    patient_id: Literal["ins-or-regional", "regional", "keep"] = Field(
        "ins-or-regional", description="PatientID sent: the qualified INS, else the regional "
        "identifier; the local PatientID goes to OtherPatientIDsSequence")
    set: dict[str, str] = Field(
        default_factory=dict, description="keyword -> value ({source} and {marker} are "
        "replaced), e.g. InstitutionalDepartmentName")
    private_creator: str | None = Field(
        "REGIONAL HUB", description="private block (group 0009) naming the sending site; "
        "None for none")


class DicomDestination(_Model):
    """Forward images with C-STORE (storage SCU, pynetdicom PDUs) to a PACS or archive."""

    type: Literal["dicom"]
    host: str = Field(description="peer host")
    port: int = Field(ge=1, le=65535, description="peer port")
    called_ae: str = Field(min_length=1, max_length=16, description="peer AE title")
    calling_ae: str = Field("HUB", min_length=1, max_length=16, description="our AE title")
    timeout_s: float = Field(30.0, gt=0, description="association and DIMSE timeout")
    idle_release_s: float = Field(1.0, gt=0, description="a lane releases its association "
                                  "after this long with nothing to send")
    lanes: int = Field(4, ge=1, le=16, description="parallel associations (instances "
                       "are spread over them)")
    coerce: DicomCoercion = Field(default_factory=DicomCoercion)
    tls: TlsSettings | None = Field(None, description="connect over TLS when set")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    ordered: bool = Field(True, description="keep per-patient order (retries hold the lane)")


class MssanteDestination(_Model):
    """Mail CI-SIS documents over MSSanté (SMTP + IHE XDM); endpoints under ``mssante``."""

    type: Literal["mssante"]
    lanes: int = Field(4, ge=1, le=64, description="mails built and sent in parallel")
    acknowledgements: bool = Field(
        True, description="send ZAM^Z02 back through the hub when a sender asks "
        "(ACK_RECEPTION=Y); a route on source mssante delivers it")
    after: str | None = Field(
        "repository", description="destination that files the document first when the "
        "message goes to both (the mail then cites the repository id); None: do not wait")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    ordered: bool = Field(True, description="keep per-patient order (retries hold the lane)")


Destination = Annotated[
    FileDestination | MllpDestination | SrriDestination | RepositoryDestination
    | DicomDestination | MssanteDestination,
    Field(discriminator="type")]


class IdentitySettings(_Model):
    """The regional identity server (SRRI), when ``identity`` is in ``components``."""

    auto_threshold: float = Field(22.0, description="score (bits) at or above: linked")
    review_threshold: float = Field(10.0, description="score at or above: review queue")
    regional_system: str = Field(
        "urn:oid:2.25.114077959961030865733295044946271075314",
        description="identifier system of the regional identities (set your own OID)",
    )
    notify: bool = Field(
        True, description="announce changed identities as ADT^A31 from source 'srri'")

    @model_validator(mode="after")
    def _bands(self) -> IdentitySettings:
        if self.review_threshold > self.auto_threshold:
            raise ValueError(f"review_threshold {self.review_threshold} is above "
                             f"auto_threshold {self.auto_threshold}")
        return self


class SmtpSettings(_Model):
    """The MSSanté operator's SMTP submission endpoint (STARTTLS, client certificate, AUTH)."""

    host: str = Field(description="submission server")
    port: int = Field(587, ge=1, le=65535, description="submission port")
    tls: TlsSettings | None = Field(
        None, description="certfile/keyfile: the hub's client certificate (mutual TLS); "
        "cafile: the operator's CA")
    starttls: bool = Field(True, description="upgrade with STARTTLS (refuse a server without it)")
    username: str | None = Field(None, description="AUTH user (the applicative mailbox)")
    password: str | None = Field(None, description="AUTH password (HUB_MSSANTE__SMTP__PASSWORD)")
    timeout_s: float = Field(30.0, gt=0, description="connect and command timeout")
    connections: int = Field(4, ge=1, le=64, description="open connections kept and reused")
    per_domain: int = Field(4, ge=1, le=64, description="concurrent sends per recipient domain")


class ImapSettings(_Model):
    """The hub's applicative mailbox, polled over IMAP (TLS)."""

    host: str = Field(description="IMAP server")
    port: int = Field(993, ge=1, le=65535, description="IMAPS port")
    tls: TlsSettings | None = Field(None, description="client certificate and CA, as for SMTP")
    username: str = Field(description="mailbox login")
    password: str | None = Field(None, description="password (HUB_MSSANTE__IMAP__PASSWORD)")
    folder: str = Field("INBOX", description="folder polled")
    poll_s: float = Field(30.0, gt=0, description="seconds between polls")


class MssanteSettings(_Model):
    """The ``mssante`` component: the applicative mailbox, SMTP out, IMAP in."""

    address: str | None = Field(None, description="the hub's applicative mailbox (From)")
    smtp: SmtpSettings | None = Field(None, description="outbound mail; required to send")
    imap: ImapSettings | None = Field(None, description="inbound mail; not polled when unset")
    patient_domain: str = Field("patient.mssante.fr", description="patient mailboxes: "
                                "<INS>@<patient_domain>")
    repository_url: str | None = Field(
        None, description="base URL cited in mails for filed documents "
        "(<url>/DocumentReference/<id>)")
    inbound_source: str = Field("mssante-inbound", description="journal source of inbound mails")


class PipelineSettings(_Model):
    """The pipeline worker."""

    prefetch: int = Field(512, ge=1, description="ingress messages in flight")
    lanes: int = Field(32, ge=1, description="parallel per-patient lanes")
    route_at_intake: bool = Field(
        True,
        description="with the embedded broker, decide routes in the intake transaction "
        "(no ingress stage); routes need nothing but the message itself",
    )


class OidcSettings(_Model):
    """An OpenID Connect issuer whose bearer tokens identify people (Pro Santé Connect,
    Keycloak): its JWKS verifies the signature; claims map to roles."""

    issuer: str = Field(description="the `iss` the tokens carry (https://...)")
    audience: str = Field(description="the `aud` the tokens must name (this hub's client id)")
    jwks_uri: str | None = Field(
        None, description="the issuer's JWKS URL; default: from its "
        "/.well-known/openid-configuration")
    roles_claim: str = Field("roles", description="claim (dotted path) holding role names")
    role_map: dict[str, list[str]] = Field(
        default_factory=dict, description="claim value -> hub roles; unmapped values ignored")
    leeway_s: float = Field(30.0, ge=0, le=300, description="clock skew allowed on exp/nbf")
    authorized_parties: list[str] = Field(
        default_factory=list, description="when `aud` names several audiences, `azp` must be "
        "one of these (OpenID Connect Core 3.1.3.7; default: the audience itself)")
    acts_as: Literal["professional", "patient", "legal-representative"] = Field(
        "professional", description="whom this issuer's people read documents as "
        "(Pro Santé Connect, a staff Keycloak: professional)")
    jwks_cache_s: float = Field(
        3600.0, gt=0, le=86400, description="the issuer's keys are fetched again after this "
        "long (a key withdrawn from its JWKS stops verifying within this time)")
    jwks_min_refresh_s: float = Field(
        30.0, ge=0, le=3600, description="an unknown `kid` or a failed fetch triggers at most "
        "one JWKS fetch per this period")
    http_timeout_s: float = Field(
        5.0, gt=0, le=60, description="timeout of the discovery and JWKS requests")
    tls: TlsSettings | None = Field(
        None, description="client TLS toward the issuer: cafile for a private CA "
        "(default: the system's trust store)")

    @model_validator(mode="after")
    def _roles_are_hub_roles(self) -> OidcSettings:
        from hub.auth.model import Role

        known = {role.value for role in Role}
        for claim, roles in self.role_map.items():
            unknown = sorted(set(roles) - known)
            if unknown:
                raise ValueError(f"role_map['{claim}']: {unknown} are not hub roles "
                                 f"(one of {sorted(known)})")
        return self


class AuthSettings(_Model):
    """Who may call the HTTP interfaces (users, clients, OpenID Connect)."""

    oidc: OidcSettings | None = Field(None, description="accept this issuer's bearer tokens")
    session_ttl_s: float = Field(
        8 * 3600, gt=0, description="an operator's login session lasts this long")
    failed_login_delay_s: float = Field(
        0.5, ge=0, le=10, description="a refused login is answered after this delay")
    credential_cache_s: float = Field(
        2.0, ge=0, le=60, description="a verified API key or session is trusted this long "
        "before the database is asked again (0: every request)")
    token_ttl_s: float = Field(
        3600, gt=0, le=86400, description="an OAuth2 client-credentials access token "
        "lasts this long")


class SyslogSettings(_Model):
    """An IHE ATNA audit record repository: RFC 5424 syslog over TLS (RFC 5425)."""

    host: str = Field(description="collector address")
    port: int = Field(6514, ge=1, le=65535, description="collector port (6514: syslog-tls)")
    tls: TlsSettings = Field(default_factory=TlsSettings, description="client TLS material")


class AuditSettings(_Model):
    """The audit trail of accesses to patient data and administrative actions."""

    syslog: SyslogSettings | None = Field(
        None, description="also export every record to this ATNA repository")


class Settings(_Model):
    """Everything the hub reads at start."""

    data_dir: Path = Field(Path("var"), description="journal, blobs and outboxes live here")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default SQLite file under data_dir"
    )
    broker_url: str = Field("embedded", description="'embedded' or amqp://user:pass@host:port/")
    broker_prefix: str = Field(
        "hub", pattern=r"^[A-Za-z0-9_.-]+$",
        description="RabbitMQ queue name prefix (several hubs on one vhost)",
    )
    admin_token: str | None = Field(
        None, min_length=16, description="bearer token of the admin API; generated when unset"
    )
    routes_dir: Path = Field(
        Path("routes"), description="directory of route YAML files; when unset, ./routes "
        "if it exists, else the routes shipped with the hub")
    ins_test_mode: bool = Field(False, description="accept test/demo INS OIDs (.10, .11)")
    log_level: str = Field("INFO", description="logging level")
    log_patient_data: bool = Field(False, description="allow patient data in logs")
    mllp: MllpSettings = Field(default_factory=MllpSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    dicom: DicomSettings = Field(default_factory=DicomSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    mssante: MssanteSettings = Field(default_factory=MssanteSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    components: list[str] = Field(
        default_factory=list,
        description="services plugged into the spine, started in this order",
    )
    sources: list[SourceSettings] = Field(default_factory=list, description="known senders")
    destinations: dict[str, Destination] = Field(
        default_factory=dict, description="delivery targets by name"
    )

    @model_validator(mode="after")
    def _check_names(self) -> Settings:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"sources: name '{source.name}' is used twice")
            seen.add(source.name)
        for name in self.destinations:
            if not name.replace("-", "").isalnum() or name != name.lower():
                raise ValueError(f"destinations: name '{name}' must be lowercase [a-z0-9-]")
        return self

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hub.db').as_posix()}"


def _set_dotted(tree: dict[str, Any], dotted: str, value: str) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def apply_env(tree: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay ``HUB_*`` variables on the YAML tree (environment wins)."""
    for name, value in environ.items():
        if name in ENV_KEYS:
            _set_dotted(tree, ENV_KEYS[name], value)
        elif name.startswith("HUB_") and "__" in name:
            dotted = name[4:].lower().replace("__", ".")
            _set_dotted(tree, dotted, value)
    return tree


def _format_validation(error: ValidationError, origin: str) -> ConfigError:
    problems = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-"))
        value = item.get("input")
        shown = f", got {value!r}" if not isinstance(value, dict | list) else ""
        problems.append(f"{key or '(top)'}: {item['msg']}{shown}")
    return ConfigError(f"{origin} is invalid:\n  " + "\n  ".join(problems))


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a settings file; an absent file is an empty mapping."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: the top level must be a mapping")
    return data


SHIPPED = Path(__file__).parent / "defaults"
"""The configuration shipped with the hub: ``hub.yaml`` and ``routes/``."""
SHIPPED_CONFIG = SHIPPED / "hub.yaml"
SHIPPED_ROUTES = SHIPPED / "routes"


def config_file(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The settings file to read.

    ``path`` when given (an absent file reads as empty: defaults and
    environment only); else ``$HUB_CONFIG``, which must exist; else
    ``./hub.yaml`` when present; else the ``hub.yaml`` shipped with the hub, so
    that ``hub run`` works from any directory.
    """
    env = os.environ if environ is None else environ
    if path is not None:
        return path
    if env.get("HUB_CONFIG"):
        named = Path(env["HUB_CONFIG"])
        if not named.is_file():
            raise ConfigError(f"configuration file {named.resolve()} not found (HUB_CONFIG); "
                              "`hub init DIR` writes the shipped one")
        return named
    local = Path("hub.yaml")
    return local if local.is_file() else SHIPPED_CONFIG


def load_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from :func:`config_file` and the environment.

    ``routes_dir`` left unset means ``./routes`` when that directory exists,
    else the routes shipped with the hub.
    """
    env = os.environ if environ is None else environ
    config_path = config_file(path, env)
    tree = apply_env(read_yaml(config_path), env)
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        raise _format_validation(exc, f"configuration ({config_path.name} + HUB_* env)") from exc
    if "routes_dir" not in settings.model_fields_set and not settings.routes_dir.is_dir():
        settings = settings.model_copy(update={"routes_dir": SHIPPED_ROUTES})
    return settings
