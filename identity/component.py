"""The identity component: the SRRI plugged into the running hub.

- destination type ``srri``: routes send identity feeds (PAM France ADT) to
  it; each message is mapped (:func:`mappings.hl7v2.map_adt`) and its
  identity event applied; every regional identity that changed is announced
  as an ADT^A31 (PIX update style) taken into the hub from source ``srri``,
  so routes deliver it to the subscribed systems;
- FHIR: PIXm ``$ihe-pix``, PDQm search and ``$match`` (:mod:`identity.fhir`);
- admin API and CLI: the review queue (:mod:`identity.admin`);
- the hub's :class:`hub.patients.PatientDirectory`, so the repository finds
  documents across every identifier of a patient.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hub.app import Hub
from hub.components import DestinationFactory
from hub.config import SrriDestination
from hub.delivery import DeliveryJob
from hub.errors import (
    MappingError,
    ParseError,
    PermanentDeliveryError,
    StorageError,
    TransientDeliveryError,
)
from hub.hl7.er7 import parse
from hub.intake import hl7_timestamp
from hub.journal import new_message_id
from identity.matching.decide import Scorer, Thresholds
from identity.matching.defaults import default_model
from identity.queries import IdentityQueries, authority_of
from identity.service import Applied, IdentityService
from identity.store import IdentityStore
from mappings.hl7v2 import map_adt
from mappings.hl7v2.identity_event import (
    IdentityStatus,
    IdentityTraits,
    PatientIdentifier,
)
from mappings.hl7v2.outbound import A31Patient, adt_a31

log = logging.getLogger(__name__)


class IdentityComponent:
    """Store, service, queries and their HTTP and delivery faces."""

    name = "identity"

    def __init__(self, hub: Hub) -> None:
        assert hub.db is not None
        settings = hub.settings.identity
        self.hub = hub
        self.settings = settings
        self.store = IdentityStore(hub.db)
        thresholds = Thresholds(settings.auto_threshold, settings.review_threshold)
        self.service = IdentityService(self.store, Scorer(default_model(), thresholds),
                                       test_mode=hub.settings.ins_test_mode)
        self.queries = IdentityQueries(self.store, Scorer(default_model(), thresholds),
                                       settings.regional_system)

    def destination_types(self) -> Mapping[str, DestinationFactory]:
        """``srri``: the identity feed consumer."""
        return {"srri": self._destination}

    def _destination(self, name: str, settings: Any, _data_dir: Path) -> SrriFeed:
        assert isinstance(settings, SrriDestination)
        return SrriFeed(name, settings, self)

    def routers(self) -> Sequence[Any]:
        """FHIR PIXm/PDQm and the admin review API."""
        from identity import admin, fhir

        return [fhir.router, admin.router]

    async def start(self) -> None:
        """Become the hub's patient directory."""
        self.hub.patients = self.queries

    async def close(self) -> None:
        """Nothing to release: the store uses the hub's database."""

    async def announce(self, applied: Applied) -> None:
        """Take an ADT^A31 per changed identity into the hub (source ``srri``)."""
        if not self.settings.notify or self.hub.intake is None:
            return
        for identity_id in sorted(applied.changed):
            patient = await self.a31_patient(identity_id)
            if patient is None:
                continue
            control_id = new_message_id()
            payload = adt_a31(patient, control_id=control_id,
                              timestamp=hl7_timestamp(time.time()))
            await self.hub.intake.submit(payload, source="srri")

    async def a31_patient(self, identity_id: str) -> A31Patient | None:
        """What an A31 says of an identity: every identifier, the representative traits."""
        found = await self.queries.shown(identity_id)
        if found is None:
            return None
        shown, view = found
        identifiers = [_cx(system, value, "RI" if system == self.settings.regional_system
                           else "PI") for system, value in view.identifiers
                       if (system, value) != view.qualified_ins]
        if view.qualified_ins:
            identifiers.append(_cx(*view.qualified_ins, "INS"))
        t = shown.record.traits
        traits = IdentityTraits(
            birth_name=t.birth_name, first_given_name=t.given_names[0] if t.given_names
            else None, birth_given_names=t.given_names, used_name=t.used_name,
            used_given_name=t.used_given_name, birth_date=t.birth_date, sex=t.sex.value,
            birthplace_insee=t.birthplace)
        status = "VALI" if shown.record.qualified else shown.record.status.value
        return A31Patient(tuple(identifiers), traits, (status,))


def _cx(system: str, value: str, type_code: str) -> PatientIdentifier:
    oid = authority_of(system) if system.startswith("urn:oid:") else None
    return PatientIdentifier(value=value, authority_oid=oid, authority_name="",
                             authority_id=oid or system, type_code=type_code,
                             authority_id_type="ISO" if oid else "")


class SrriFeed:
    """The ``srri`` destination: applies each routed ADT to the SRRI."""

    lanes = 1
    ordered = True

    def __init__(self, name: str, settings: SrriDestination, component: IdentityComponent,
                 ) -> None:
        self.name = name
        self.retry = settings.retry
        self._component = component

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def deliver(self, job: DeliveryJob) -> str:
        """Map the ADT, apply its identity event, announce what changed."""
        if job.headers.get("source") == "srri":
            # The SRRI's own announcements must not feed it back (a route mistake).
            return "ignored: announcement of the SRRI itself"
        try:
            mapped = map_adt(parse(job.payload))
        except (ParseError, MappingError) as exc:
            raise PermanentDeliveryError(f"not an identity feed the SRRI can apply: {exc}") \
                from exc
        try:
            applied = await self._component.service.apply(mapped.identity_event,
                                                           job.message_id)
            await self._component.announce(applied)
        except StorageError as exc:
            raise TransientDeliveryError(str(exc)) from exc
        return f"{applied.outcome} {applied.identity_id or ''}".strip()


def create_component(hub: Hub) -> IdentityComponent:
    """The registry's factory."""
    return IdentityComponent(hub)


__all__ = ["IdentityComponent", "IdentityStatus", "SrriFeed", "create_component"]
