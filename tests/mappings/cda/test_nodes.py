"""HL7 v3 TS timestamps: XDS (UTC) and FHIR forms."""

from __future__ import annotations

import pytest

from mappings.cda.fhir import xds_to_fhir
from mappings.cda.nodes import parse_ts


@pytest.mark.parametrize(
    ("value", "xds", "fhir", "instant"),
    [
        ("2021", "2021", "2021", False),
        ("202104", "202104", "2021-04", False),
        ("20210401", "20210401", "2021-04-01", False),
        ("2021040117+0100", "2021040116", "2021-04-01T17:00:00+01:00", False),
        ("202101040735+0100", "202101040635", "2021-01-04T07:35:00+01:00", False),
        ("20210401171000+0100", "20210401161000", "2021-04-01T17:10:00+01:00", True),
        ("20210401171000.25-0330", "20210401204000", "2021-04-01T17:10:00.250000-03:30", True),
        ("20210401171000+0000", "20210401171000", "2021-04-01T17:10:00+00:00", True),
        ("20210701120000", "20210701100000", "2021-07-01T12:00:00+02:00", True),
    ],
)
def test_parse_ts(value: str, xds: str, fhir: str, instant: bool) -> None:
    parsed = parse_ts(value)
    assert (parsed.xds, parsed.fhir, parsed.instant is not None) == (xds, fhir, instant)


@pytest.mark.parametrize("value", ["", "21", "2021-04-01", "20210230", "20210401256000",
                                   "20210401120000+01", "2021040112000+0100x"])
def test_parse_ts_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_ts(value)


@pytest.mark.parametrize(
    ("dtm", "fhir"),
    [("2021", "2021"), ("20210401", "2021-04-01"), ("2021040116", "2021-04-01T16:00:00Z"),
     ("20210401161000", "2021-04-01T16:10:00Z")],
)
def test_xds_to_fhir(dtm: str, fhir: str) -> None:
    assert xds_to_fhir(dtm) == fhir
