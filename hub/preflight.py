"""What ``hub run`` refuses, found before anything starts.

``hub run`` and ``hub config check`` call the same :func:`check_settings`,
so a configuration the check calls OK is one the hub starts with. Every
problem is collected in one pass: an unknown component, a destination type
that neither the hub nor an enabled component serves, and every route file
problem (syntax, unknown destinations and sources), a listener bound to a
non-loopback address without TLS (unless its ``allow_plaintext`` waives
it), and two sources bound to one certificate.

:func:`weak_settings` lists what the hub starts with but should not run
with in production; ``hub config check`` prints them as warnings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from hub.config import DicomSourceSettings, Settings, SourceSettings, TlsSettings
from hub.errors import ConfigError
from hub.intake import INTERNAL_SOURCES
from hub.registry import COMPONENT_DESTINATION_TYPES, COMPONENTS, DESTINATION_TYPES
from hub.routing.engine import RoutingEngine
from hub.routing.loader import RouteFileError, load_routes


class SettingsProblems(ConfigError):
    """The settings and route files hold one or more problems; ``problems`` lists them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        heading = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(f"{heading} in the configuration:\n  - " + "\n  - ".join(problems))


def load_engine(settings: Settings) -> RoutingEngine:
    """Load and validate the route files against the configured destinations and sources."""
    routes = load_routes(
        settings.routes_dir,
        known_destinations=set(settings.destinations),
        known_sources={s.name for s in settings.sources} | {s.name for s in settings.dicom.sources}
        | {"default", *INTERNAL_SOURCES},
    )
    return RoutingEngine(routes)


def component_problems(settings: Settings) -> list[str]:
    """Component names that no component answers to."""
    return [f"components: unknown component '{name}'; known: {', '.join(COMPONENTS)}"
            for name in settings.components if name not in COMPONENTS]


def destination_type_problems(settings: Settings) -> list[str]:
    """Destinations whose ``type`` neither the hub nor an enabled component serves."""
    served = {kind: "" for kind in DESTINATION_TYPES}
    for name, kinds in COMPONENT_DESTINATION_TYPES.items():
        for kind in kinds:
            served.setdefault(kind, name)
    problems = []
    for name, destination in settings.destinations.items():
        kind = destination.type
        component = served.get(kind)
        if component is None:
            problems.append(f"destinations.{name}.type: unknown destination type '{kind}'; "
                            f"known: {', '.join(sorted(served))}")
        elif component and component not in settings.components:
            problems.append(f"destinations.{name}.type: type '{kind}' is served by the "
                            f"component '{component}', which is not in components")
    return problems


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name, or "" (every interface): reachable from elsewhere


def _listeners(settings: Settings) -> list[tuple[str, bool, str, Any, bool]]:
    """(key, enabled, host, tls settings, allow_plaintext) of each listener."""
    dicom = settings.dicom
    http = settings.http
    return [
        ("mllp", settings.mllp.enabled, settings.mllp.host, settings.mllp.tls,
         settings.mllp.allow_plaintext),
        ("http", http.enabled, http.host, http.tls, http.allow_plaintext),
        ("dicom", dicom.enabled and "imaging" in settings.components, dicom.host, dicom.tls,
         dicom.allow_plaintext),
    ]


def listener_problems(settings: Settings) -> list[str]:
    """Listeners reachable from other machines without TLS and without a waiver.

    Health data crosses the network only encrypted (HDS hosting; IHE ATNA
    secure node: TLS on every network interface, ITI TF-2 3.19.6.2).
    """
    return [f"{key}.host: '{host}' is not a loopback address and {key}.tls is not set: "
            f"set {key}.tls, or {key}.allow_plaintext: true when a VPN or a TLS proxy "
            "protects the link"
            for key, enabled, host, tls, waived in _listeners(settings)
            if enabled and tls is None and not waived and not is_loopback(host)]


def _duplicate_bindings(key: str, sources: Sequence[SourceSettings | DicomSourceSettings]
                        ) -> list[str]:
    problems: list[str] = []
    seen: dict[str, str] = {}
    for index, source in enumerate(sources):
        binding = source.certificate
        for value in (binding.fingerprint, binding.subject_key) if binding else ():
            if value is not None and value in seen:
                problems.append(f"{key}[{index}].certificate: source '{source.name}' is "
                                f"bound to the certificate of source '{seen[value]}'")
            elif value is not None:
                seen[value] = source.name
    return problems


def binding_problems(settings: Settings) -> list[str]:
    """Two sources bound to one certificate: the certificate would not say which."""
    return (_duplicate_bindings("sources", settings.sources)
            + _duplicate_bindings("dicom.sources", settings.dicom.sources))


def check_settings(settings: Settings) -> tuple[RoutingEngine | None, list[str]]:
    """The routing engine (None when the routes do not load) and every problem found."""
    problems = (component_problems(settings) + destination_type_problems(settings)
                + listener_problems(settings) + binding_problems(settings))
    try:
        engine: RoutingEngine | None = load_engine(settings)
    except RouteFileError as exc:
        engine = None
        problems += exc.problems
    except ConfigError as exc:
        engine = None
        problems.append(str(exc))
    return engine, problems


def checked_engine(settings: Settings) -> RoutingEngine:
    """The routing engine of valid settings; :class:`SettingsProblems` lists every problem."""
    engine, problems = check_settings(settings)
    if problems or engine is None:
        raise SettingsProblems(problems)
    return engine


SECRET_KEYS = ("admin_token", "mssante.smtp.password", "mssante.imap.password")
URL_KEYS = ("database_url", "broker_url")


def _dotted(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def file_secrets(file_tree: Mapping[str, Any]) -> list[str]:
    """Secrets written in the settings file rather than given by the environment."""
    found = [f"{key} is written in the settings file: give it by the environment "
             f"(HUB_{key.upper().replace('.', '__')})"
             for key in SECRET_KEYS if _dotted(file_tree, key)]
    for key in URL_KEYS:
        value = _dotted(file_tree, key)
        if isinstance(value, str) and urlsplit(value).password:
            found.append(f"{key} holds a password in the settings file: give the URL by the "
                         f"environment (HUB_{key.upper()})")
    return found


def _plaintext_waivers(settings: Settings) -> list[str]:
    return [f"{key}.allow_plaintext: TLS is waived on '{host}', reachable from other "
            "machines: health data crosses the network in clear unless a VPN or proxy "
            "protects it"
            for key, enabled, host, tls, waived in _listeners(settings)
            if enabled and tls is None and waived and not is_loopback(host)]


def _unverified_bindings(settings: Settings) -> list[str]:
    """Bound sources on a listener that cannot see (or does not demand) client certificates."""
    found = []
    for key, sources, tls in (("mllp", settings.sources, settings.mllp.tls),
                              ("dicom", settings.dicom.sources, settings.dicom.tls)):
        bound = [s.name for s in sources if s.certificate is not None]
        if not bound:
            continue
        names = ", ".join(bound)
        if tls is None or tls.cafile is None:
            found.append(f"{key}.tls: sources {names} are bound to client certificates but the "
                         f"listener verifies none (set {key}.tls.cafile): they can never be "
                         "recognised by their certificate")
        elif not tls.require_client_cert:
            found.append(f"{key}.tls.require_client_cert is false while sources {names} are "
                         "bound to client certificates: a sender without one is known only "
                         "by what it writes (MSH-3/MSH-4, its AE title)")
    return found


def _clients_unverified(settings: Settings) -> list[str]:
    """Outbound TLS that does not check the server's certificate."""
    found: list[str] = []
    tls_of: list[tuple[str, TlsSettings | None]] = [
        (f"destinations.{name}.tls", getattr(d, "tls", None))
        for name, d in settings.destinations.items()]
    smtp, imap = settings.mssante.smtp, settings.mssante.imap
    tls_of += [("mssante.smtp.tls", smtp.tls if smtp else None),
               ("mssante.imap.tls", imap.tls if imap else None)]
    if settings.audit.syslog is not None:
        tls_of.append(("audit.syslog.tls", settings.audit.syslog.tls))
    for key, tls in tls_of:
        if tls is not None and not tls.verify:
            found.append(f"{key}.verify is false: the peer's certificate is not checked")
    return found


def _oidc(settings: Settings) -> list[str]:
    oidc = settings.auth.oidc
    if oidc is None:
        return []
    return [f"auth.oidc.{key}: '{value}' is not https: tokens and keys could be forged "
            "on the way (OpenID Connect Discovery 1.0 section 3)"
            for key, value in (("issuer", oidc.issuer), ("jwks_uri", oidc.jwks_uri))
            if value is not None and urlsplit(value).scheme != "https"]


def weak_settings(settings: Settings, file_tree: Mapping[str, Any] | None = None) -> list[str]:
    """Settings the hub starts with but that weaken its security, one line each.

    ``file_tree``: the settings file as read (without the environment), to
    tell secrets written in it from those given by the environment.
    """
    warnings = _plaintext_waivers(settings) + _unverified_bindings(settings)
    if settings.log_patient_data:
        warnings.append("log_patient_data: true writes patient data in the logs")
    if settings.ins_test_mode:
        warnings.append("ins_test_mode: true accepts test and demonstration INS "
                        "(OIDs 1.2.250.1.213.1.4.10 and .11) as if they were real")
    warnings += _clients_unverified(settings) + _oidc(settings)
    if file_tree is not None:
        warnings += file_secrets(file_tree)
    return warnings
