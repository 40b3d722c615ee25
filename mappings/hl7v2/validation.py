"""Build a fhir.resources R4B model from a dict; a validation failure becomes a MappingError."""

from __future__ import annotations

from typing import Any, TypeVar

from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from hub.errors import MappingError

__all__ = ["validated"]

Model = TypeVar("Model", bound=Resource)


def validated(model: type[Model], data: dict[str, Any], location: str) -> Model:
    """``model.model_validate(data)``; a value the model refuses is a MappingError at ``location``.

    The mappers check the HL7 values they copy, so a refusal here means a
    value slipped through (a code with blanks, an odd character): the
    message is rejected with the FHIR element named rather than crashing.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        element = ".".join(str(part) for part in first.get("loc", ()))
        raise MappingError(
            f"{data.get('resourceType', model.__name__)}.{element} refused by the FHIR R4B model: "
            f"{first.get('msg', 'invalid value')}",
            location=location,
        ) from None
