"""CDA R2 documents and CI-SIS ORU^R01 messages built for the repository tests.

Everything here is invented: names, identifiers, organisations, results. The
CDA shape is the CI-SIS level 1 document with a plain-text ``nonXMLBody``
(formatCode ``urn:ihe:iti:xds-sd:text:2008``), as
``tests/data/cda-mappings/n1_text_replacement_nia.xml``; the ORU^R01 follows
the CI-SIS volet "Transmission de documents CDA en HL7v2" 2.1 (CDA Base64 in
OBX-5 ED, OBX-11 F/C/D, MetaDMPMSS flags), as
``tests/data/hl7v2-mappings/oru_cda_initial.er7``. INS values use the test
authority ``1.2.250.1.213.1.4.10``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

INS_TEST = "1.2.250.1.213.1.4.10"
IPP_AUTHORITY = "1.2.250.1.999.42.1"
INS = "285066311304507"
IPP = "IPP-77120"


def cda(
    unique_id: str,
    *,
    ins: str | None = INS,
    ipp: str | None = IPP,
    set_id: str | None = None,
    version: int = 1,
    replaces: str | None = None,
    type_code: str = "11502-2",
    confidentiality: str = "N",
    author_family: str = "MARCHAND",
    effective: str = "20250301101500+0100",
    service: tuple[str, str] | None = ("20250301080000+0100", "20250301090000+0100"),
    facility: str = "SA01",
    setting: str = "ETABLISSEMENT",
    text: str = "Glycémie à jeun : 5.2 mmol/L.",
) -> bytes:
    """A level 1 plain-text CDA; ``unique_id`` is ``root`` or ``root^extension``."""
    root, _, extension = unique_id.partition("^")
    id_attrs = f'root="{root}"' + (f' extension="{extension}"' if extension else "")
    ids = "".join(f'<id root="{r}" extension="{e}"/>' for r, e in
                  ((INS_TEST, ins), (IPP_AUTHORITY, ipp)) if e)
    related = (f'<relatedDocument typeCode="RPLC"><parentDocument><id root="{replaces}"/>'
               "</parentDocument></relatedDocument>") if replaces else ""
    events = ""
    if service:
        events = (f'<documentationOf><serviceEvent><effectiveTime><low value="{service[0]}"/>'
                  f'<high value="{service[1]}"/></effectiveTime><performer typeCode="PRF">'
                  '<assignedEntity><id root="1.2.250.1.71.4.2.1" extension="810000000012"/>'
                  '<representedOrganization><standardIndustryClassCode '
                  f'code="{setting}" codeSystem="1.2.250.1.71.4.2.4"/>'
                  "</representedOrganization></assignedEntity></performer></serviceEvent>"
                  "</documentationOf>")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.2.20"/>
  <id {id_attrs}/>
  <code code="{type_code}" codeSystem="2.16.840.1.113883.6.1" displayName="Compte rendu"/>
  <title>Compte rendu {escape(unique_id)}</title>
  <effectiveTime value="{effective}"/>
  <confidentialityCode code="{confidentiality}" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <setId root="{set_id or root + '.set'}"/>
  <versionNumber value="{version}"/>
  <recordTarget><patientRole>{ids}<patient><name><family qualifier="BR">MARTIN</family>
    <given>CLAIRE</given></name><administrativeGenderCode code="F"
    codeSystem="2.16.840.1.113883.5.1"/><birthTime value="19840512"/></patient>
  </patientRole></recordTarget>
  <author><time value="{effective}"/><assignedAuthor>
    <id root="1.2.250.1.71.4.2.1" extension="810000000012"/>
    <assignedPerson><name><given>Paul</given><family>{author_family}</family></name>
    </assignedPerson>
    <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1630000042"/>
      <name>Laboratoire des Volcans</name></representedOrganization>
  </assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1630000042"/>
  </representedCustodianOrganization></assignedCustodian></custodian>
  {events}
  {related}
  <componentOf><encompassingEncounter><effectiveTime value="20250301"/><location>
    <healthCareFacility><code code="{facility}" codeSystem="1.2.250.1.71.4.2.4"/>
    </healthCareFacility></location></encompassingEncounter></componentOf>
  <component><nonXMLBody><text mediaType="text/plain">{escape(text)}</text></nonXMLBody>
  </component>
</ClinicalDocument>
""".encode()


FLAGS = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REP_LEGAUX", "CONNEXION_SECRETE",
         "MODIF_CONF_CODE", "DESTDMP", "DESTMSSANTEPS", "DESTMSSANTEPAT", "ACK_RECEPTION")


def _pid(pid3: str, reliability: str) -> str:
    fields = [""] * 33
    fields[1], fields[3], fields[5] = "1", pid3, "MARTIN^CLAIRE^CLAIRE^^^^L"
    fields[7], fields[8], fields[32] = "19840512", "F", reliability
    return "PID" + "|".join(fields)


def oru(
    documents: Sequence[bytes],
    *,
    control_id: str,
    status: str = "F",
    flags: Mapping[str, bool] | None = None,
    qualified: bool = True,
    ins: str = INS,
    sending: tuple[str, str] = ("SIL_TEST", "LABO-TEST"),
) -> bytes:
    """A CI-SIS ORU^R01 carrying ``documents``; flags default to DESTDMP=Y, others N."""
    chosen = {"DESTDMP": True, **(flags or {})}
    pid3 = (f"{ins}^^^ASIP-SANTE-INS-NIR&{INS_TEST}&ISO^INS~"
            f"{IPP}^^^LABO&{IPP_AUTHORITY}&ISO^PI")
    segments = [
        f"MSH|^~\\&|{sending[0]}|{sending[1]}|HUB|GRADES|20250301101500||ORU^R01^ORU_R01|"
        f"{control_id}|P|2.5|||AL|NE|FRA|UNICODE UTF-8|FR||2.1^CISIS_CDA_HL7_V2",
        _pid(pid3, "VALI" if qualified else "PROV"),
        "PV1|1|O",
        "ORC|NW|CMD-1^HUB",
        "OBR|1|CMD-1^HUB|EX-1^LABO|11502-2^CR d'examens biologiques^LN|||20250301080000",
    ]
    number = 0
    for document in documents:
        number += 1
        data = base64.b64encode(document).decode("ascii")
        segments.append(f"OBX|{number}|ED|11502-2^CR d'examens biologiques^LN||"
                        f"^TEXT^XML^Base64^{data}||||||{status}")
    for flag in FLAGS:
        number += 1
        value = "Y" if chosen.get(flag) else "N"
        segments.append(f"OBX|{number}|CE|{flag}^{flag.lower()}^MetaDMPMSS||"
                        f"{value}^^expandedYes-NoIndicator||||||F")
    return ("\r".join(segments) + "\r").encode("utf-8")
