"""HL7 v2.5 messages for the end-to-end tests, written for them (every value invented).

Shapes:

- ADT A01 / A08 / A40: IHE PAM France 2.11 as in the published sample
  ``../shared/samples/hl7v2/SGL/admission.er7`` (MSH-12 ``2.5^FRA^2.11``,
  MSH-17 ``FRA``, MSH-19 ``FR``, MSH-21 the PAM profile, IPP in PID-3 with
  its assigning authority as an OID, ZBE movement segment on A01). A08 keeps
  the ``ADT_A01`` structure; A40 is ``ADT^A40^ADT_A39`` with MRG-1 holding
  the absorbed IPP (PAM France 2.11, fusion d'identités).
- The U+02DC sample: ``data/cisis_oru_r01_tilde.er7``, see ``data/README.md``.

MSH-15 (accept acknowledgment type) is empty by default: HL7 original mode,
answered AA. ``enhanced=True`` sets it to ``AL`` (answered CA).
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
SENDER_APP = "GAM-E2E"
FACILITY = "CH-E2E"
AUTHORITY = "CH-E2E&1.2.250.1.71.4.2.2.999&ISO"
CHARSET_CODECS = {"UNICODE UTF-8": "utf-8", "8859/1": "iso-8859-1"}


def _msh(control_id: str, event: str, structure: str, *, app: str, charset: str,
         enhanced: bool, stamp: str) -> str:
    ack_type = "AL" if enhanced else ""
    return (
        f"MSH|^~\\&|{app}|{FACILITY}|HUB|GRADES-E2E|{stamp}||ADT^{event}^{structure}|"
        f"{control_id}|P|2.5^FRA^2.11|||{ack_type}||FRA|{charset}|FR||2.11^IHE_FRANCE-2.11-PAM"
    )


def _pid(ipp: str, family: str, given: str) -> str:
    return (
        f"PID|1||{ipp}^^^{AUTHORITY}^PI||{family}^{given}^{given}^^^^L||19840512|F|||"
        "12 rue des Tilleuls^^CLERMONT-FERRAND^^63000^FRA^H"
    )


def adt(
    event: str,
    control_id: str,
    ipp: str,
    *,
    merged_ipp: str | None = None,
    app: str = SENDER_APP,
    family: str = "LEFÈVRE",
    given: str = "HÉLÈNE",
    charset: str = "UNICODE UTF-8",
    enhanced: bool = False,
    stamp: str = "20250114093000",
    line_end: str = "\r",
) -> bytes:
    """A PAM France ADT message (A01, A08 or A40), encoded as MSH-18 says."""
    structure = {"A01": "ADT_A01", "A08": "ADT_A01", "A40": "ADT_A39"}[event]
    segments = [
        _msh(control_id, event, structure, app=app, charset=charset, enhanced=enhanced,
             stamp=stamp),
        f"EVN||{stamp}||||{stamp}",
        _pid(ipp, family, given),
    ]
    if event == "A40":
        segments.append(f"MRG|{merged_ipp or ipp + '0'}^^^{AUTHORITY}^PI")
    else:
        segments.append(f"PV1|1|I|CARDIO^101^1^{AUTHORITY}^^N|R||||||||||||||||"
                        f"V{ipp}^^^{AUTHORITY}^VN")
    if event == "A01":
        segments.append(f"ZBE|MVT-{control_id}^{FACILITY}^1.2.250.1.71.4.2.2.999^ISO|{stamp}||"
                        "INSERT|N")
    text = line_end.join(segments) + line_end
    return text.encode(CHARSET_CODECS[charset])


def with_control_id(payload: bytes, control_id: str) -> bytes:
    """``payload`` with MSH-10 replaced (the fixture files have fixed ids)."""
    end = min(i for i in (payload.find(b"\r"), payload.find(b"\n"), len(payload)) if i >= 0)
    msh = payload[:end].split(b"|")
    msh[9] = control_id.encode("ascii")
    return b"|".join(msh) + payload[end:]


def data_file(name: str) -> bytes:
    """A fixture of ``tests/e2e/data`` with ``\\n`` turned into ``\\r`` (stored with ``\\n``)."""
    return (DATA / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r")
