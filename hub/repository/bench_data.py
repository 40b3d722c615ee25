"""Invented CR-BIO documents and CI-SIS ORU^R01 messages for ``hub bench documents``.

Everything here is made up: patients, laboratories, biologists, results.
A document is a CI-SIS CR-BIO (compte rendu d'examens biologiques) level 3
CDA R2: the French header (INS-NIR of the test space and the laboratory's
IPP in ``recordTarget``, author, custodian, legal authenticator, service
event, facility), then two to five chapters (hematology, biochemistry,
enzymes, lipids, hormones) each with its narrative table and its coded
results (LOINC, UCUM, reference range, interpretation flag). Values are
drawn around the middle of each range, so some results come out abnormal.
The size is 12 to 30 KB. The ORU^R01 carries it base64 in OBX-5 (ED) with
the MetaDMPMSS flags (DESTDMP=Y), PID-3 (IPP and INS) and PID-32 ``VALI``,
as the CI-SIS volet "Transmission de documents CDA en HL7v2" describes.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass

INS_OID = "1.2.250.1.213.1.4.10"
"""INS-NIR of the test space (the hub needs ``ins_test_mode`` only to link identities)."""
IPP_OID = "1.2.250.1.999.77.1"
"""The invented laboratory's IPP assigning authority."""
DOCUMENT_ROOT = "1.2.250.1.999.77.2"

_FAMILIES = ("MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND",
             "LEROY", "MOREAU", "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "FAURE")
_GIVEN_F = ("CLAIRE", "LUCIE", "NATHALIE", "ISABELLE", "SOPHIE", "CAMILLE", "EMMA", "LÉA")
_GIVEN_M = ("PAUL", "JEAN", "PIERRE", "NICOLAS", "JÉRÔME", "HUGO", "LOUIS", "THÉO")
_BIOLOGISTS = (("810000000012", "Paul", "MARCHAND"), ("810000000029", "Anne", "VIDAL"),
               ("810000000036", "Marc", "ROUSSEL"), ("810000000043", "Inès", "BENOÎT"))

# (LOINC, display, UCUM unit, low, high, decimals)
_Analyte = tuple[str, str, str, float, float, int]
_CHAPTERS: tuple[tuple[str, str, tuple[_Analyte, ...]], ...] = (
    ("26436-6", "Hématologie", (
        ("6690-2", "Leucocytes", "10*9/L", 4.0, 10.0, 1),
        ("789-8", "Hématies", "10*12/L", 3.8, 5.9, 2),
        ("718-7", "Hémoglobine", "g/dL", 12.0, 17.5, 1),
        ("4544-3", "Hématocrite", "%", 36.0, 52.0, 1),
        ("787-2", "VGM", "fL", 80.0, 100.0, 1),
        ("777-3", "Plaquettes", "10*9/L", 150.0, 400.0, 0),
        ("751-8", "Polynucléaires neutrophiles", "10*9/L", 1.5, 7.0, 2),
        ("731-0", "Lymphocytes", "10*9/L", 1.0, 4.0, 2))),
    ("18719-5", "Biochimie", (
        ("2951-2", "Sodium", "mmol/L", 135.0, 145.0, 0),
        ("2823-3", "Potassium", "mmol/L", 3.5, 5.1, 1),
        ("22664-7", "Urée", "mmol/L", 2.8, 7.6, 1),
        ("14682-9", "Créatinine", "umol/L", 45.0, 104.0, 0),
        ("1988-5", "Protéine C réactive", "mg/L", 0.0, 5.0, 1),
        ("40193-5", "Glucose à jeun", "mmol/L", 3.9, 6.0, 1),
        ("4548-4", "Hémoglobine glyquée", "%", 4.0, 6.0, 1))),
    ("18723-7", "Enzymologie", (
        ("1920-8", "ASAT", "U/L", 0.0, 35.0, 0),
        ("1742-6", "ALAT", "U/L", 0.0, 45.0, 0),
        ("2324-2", "Gamma GT", "U/L", 0.0, 55.0, 0),
        ("6768-6", "Phosphatases alcalines", "U/L", 40.0, 130.0, 0))),
    ("18767-4", "Bilan lipidique", (
        ("14647-2", "Cholestérol total", "mmol/L", 0.0, 5.2, 2),
        ("14646-4", "Cholestérol HDL", "mmol/L", 1.0, 2.2, 2),
        ("22748-8", "Cholestérol LDL", "mmol/L", 0.0, 3.4, 2),
        ("14927-8", "Triglycérides", "mmol/L", 0.0, 1.7, 2))),
    ("18718-7", "Hormonologie", (
        ("3016-3", "TSH", "m[IU]/L", 0.27, 4.2, 2),
        ("2276-4", "Ferritine", "ug/L", 30.0, 400.0, 0),
        ("62292-8", "25-OH vitamine D", "nmol/L", 75.0, 250.0, 0))),
)


@dataclass(frozen=True, slots=True)
class Patient:
    """An invented patient: a valid INS-NIR (test space), the laboratory IPP, traits."""

    ins: str
    ipp: str
    family: str
    given: str
    sex: str
    birth: str


def nir(body: str) -> str:
    """The 15-character NIR of a 13-digit ``body``: body + key (97 - body mod 97)."""
    return body + f"{97 - int(body) % 97:02d}"


def patient(number: int) -> Patient:
    """Patient ``number`` (deterministic: the same number gives the same person)."""
    rng = random.Random(number)
    sex = "F" if number % 2 else "M"
    year, month = 1930 + rng.randrange(90), 1 + rng.randrange(12)
    body = (f"{2 if sex == 'F' else 1}{year % 100:02d}{month:02d}"
            f"{63 + number % 20:02d}{number // 20 % 1000:03d}{number // 20_000 % 1000:03d}")
    given = rng.choice(_GIVEN_F if sex == "F" else _GIVEN_M)
    return Patient(ins=nir(body), ipp=f"IPP{number:08d}", family=rng.choice(_FAMILIES),
                   given=given, sex=sex, birth=f"{year}{month:02d}{1 + rng.randrange(28):02d}")


LOADED, TEMPLATE, SENT = 1, 2, 3
"""Kinds of documents: bulk-loaded copies, filed templates, documents sent to the hub."""


def unique_id(run: int, kind: int, serial: int) -> str:
    """The CDA ``id/@root`` of document ``serial`` of ``kind`` in run ``run``."""
    return f"{DOCUMENT_ROOT}.{run}.{kind}.{serial}"


def _value(analyte: _Analyte, rng: random.Random) -> tuple[str, str]:
    _, _, _, low, high, decimals = analyte
    middle, spread = (low + high) / 2, (high - low) * 0.75 or 1.0
    value = max(0.0, rng.gauss(middle, spread / 2))
    flag = "L" if value < low else "H" if value > high else "N"
    return f"{value:.{decimals}f}", flag


def _observation(analyte: _Analyte, value: str, flag: str, when: str) -> str:
    code, display, unit, low, high, _ = analyte
    return f"""
        <component><observation classCode="OBS" moodCode="EVN">
          <templateId root="1.3.6.1.4.1.19376.1.3.1.6"/>
          <templateId root="1.2.250.1.213.1.1.3.80"/>
          <code code="{code}" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"
                displayName="{display}"><originalText><reference value="#r-{code}"/>
          </originalText></code>
          <statusCode code="completed"/><effectiveTime value="{when}"/>
          <value xsi:type="PQ" value="{value}" unit="{unit}"/>
          <interpretationCode code="{flag}" codeSystem="2.16.840.1.113883.5.83"/>
          <referenceRange typeCode="REFV"><observationRange classCode="OBS" moodCode="EVN.CRT">
            <value xsi:type="IVL_PQ"><low value="{low}" unit="{unit}"/>
              <high value="{high}" unit="{unit}"/></value>
          </observationRange></referenceRange>
        </observation></component>"""


def _chapter(chapter: tuple[str, str, tuple[_Analyte, ...]], rng: random.Random,
             when: str) -> str:
    code, title, analytes = chapter
    results = [(a, *_value(a, rng)) for a in analytes]
    rows = "".join(f'<tr><td><content ID="r-{a[0]}">{a[1]}</content></td><td>{v} {a[2]}</td>'
                   f"<td>{a[3]} - {a[4]}</td><td>{f}</td></tr>" for a, v, f in results)
    observations = "".join(_observation(a, v, f, when) for a, v, f in results)
    return f"""
    <component><section>
      <templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/>
      <templateId root="1.2.250.1.213.1.1.2.70"/>
      <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{title}"/>
      <title>{title.upper()}</title>
      <text><table><thead><tr><th>Examen</th><th>Résultat</th><th>Référence</th>
        <th>Interprétation</th></tr></thead><tbody>{rows}</tbody></table></text>
      <entry typeCode="DRIV"><templateId root="1.3.6.1.4.1.19376.1.3.1"/>
        <templateId root="1.2.250.1.213.1.1.3.21"/>
        <act classCode="ACT" moodCode="EVN">
          <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{title}"/>
          <statusCode code="completed"/>
          <entryRelationship typeCode="COMP"><organizer classCode="BATTERY" moodCode="EVN">
            <templateId root="1.3.6.1.4.1.19376.1.3.1.4"/>
            <templateId root="1.2.250.1.213.1.1.3.78"/>
            <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{title}"/>
            <statusCode code="completed"/>{observations}
          </organizer></entryRelationship>
        </act></entry>
    </section></component>"""


def _header(uid: str, who: Patient, when: str, rng: random.Random) -> str:
    rpps, given, family = rng.choice(_BIOLOGISTS)
    author = (f'<id root="1.2.250.1.71.4.2.1" extension="{rpps}"/><assignedPerson><name>'
              f"<given>{given}</given><family>{family}</family></name></assignedPerson>")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/><templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.3.3"/><templateId root="1.2.250.1.213.1.1.1.55"/>
  <id root="{uid}"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu d'examens biologiques</title>
  <effectiveTime value="{when}"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/><setId root="{uid}.0"/><versionNumber value="1"/>
  <recordTarget><patientRole>
    <id root="{INS_OID}" extension="{who.ins}"/><id root="{IPP_OID}" extension="{who.ipp}"/>
    <patient classCode="PSN"><name><family qualifier="BR">{who.family}</family>
      <given>{who.given}</given></name>
      <administrativeGenderCode code="{who.sex}" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="{who.birth}"/></patient>
  </patientRole></recordTarget>
  <author><time value="{when}"/><assignedAuthor>{author}
    <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1630000777"/>
      <name>Laboratoire du Bench</name></representedOrganization>
  </assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1630000777"/>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <legalAuthenticator><time value="{when}"/><signatureCode code="S"/>
    <assignedEntity>{author}</assignedEntity></legalAuthenticator>
  <documentationOf><serviceEvent><effectiveTime><low value="{when}"/><high value="{when}"/>
    </effectiveTime><performer typeCode="PRF"><assignedEntity>
      <id root="1.2.250.1.71.4.2.1" extension="{rpps}"/><representedOrganization>
        <standardIndustryClassCode code="AMBULATOIRE" codeSystem="1.2.250.1.213.1.1.4.9"/>
      </representedOrganization></assignedEntity></performer>
  </serviceEvent></documentationOf>
  <componentOf><encompassingEncounter><effectiveTime><low value="{when}"/></effectiveTime>
    <location><healthCareFacility><code code="SA25" codeSystem="1.2.250.1.71.4.2.4"/>
    </healthCareFacility></location></encompassingEncounter></componentOf>
  <component><structuredBody>"""


def crbio(uid: str, who: Patient, seed: int) -> bytes:
    """A CR-BIO document ``uid`` about ``who``; ``seed`` draws the chapters and results."""
    rng = random.Random(seed)
    when = (f"2025{1 + rng.randrange(12):02d}{1 + rng.randrange(28):02d}"
            f"{7 + rng.randrange(12):02d}{rng.randrange(60):02d}00+0100")
    chosen = sorted(rng.sample(range(len(_CHAPTERS)), 2 + rng.randrange(len(_CHAPTERS) - 1)))
    body = "".join(_chapter(_CHAPTERS[i], rng, when) for i in chosen)
    tail = "\n  </structuredBody></component>\n</ClinicalDocument>\n"
    return (_header(uid, who, when, rng) + body + tail).encode("utf-8")


def oru(document: bytes, who: Patient, control_id: str) -> bytes:
    """A CI-SIS ORU^R01 carrying ``document`` (DESTDMP=Y, PID-32 VALI)."""
    data = base64.b64encode(document).decode("ascii")
    pid = ["PID", "1", "", f"{who.ipp}^^^LABO-BENCH&{IPP_OID}&ISO^PI~{who.ins}^^^"
           f"ASIP-SANTE-INS-NIR&{INS_OID}&ISO^INS", "", f"{who.family}^{who.given}^^^^^L",
           "", who.birth, who.sex, *[""] * 23, "VALI"]
    segments = [
        f"MSH|^~\\&|SIL_BENCH|LABO-BENCH|HUB|GRADES|20250301101500||ORU^R01^ORU_R01|"
        f"{control_id}|P|2.5|||AL|NE|FRA|UNICODE UTF-8|FR||2.1^CISIS_CDA_HL7_V2",
        "|".join(pid),
        "PV1|1|O",
        f"ORC|SC|{control_id}^SIL_BENCH",
        f"OBR|1|{control_id}^SIL_BENCH||11502-2^CR d'examens biologiques^LN|||20250301080000",
        f"OBX|1|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^{data}||||||F",
        "OBX|2|CE|DESTDMP^Destinataire DMP^MetaDMPMSS||Y^^expandedYes-NoIndicator||||||F",
        "OBX|3|CE|DESTMSSANTEPS^Destinataire PS^MetaDMPMSS||N^^expandedYes-NoIndicator||||||F",
        "OBX|4|CE|ACK_RECEPTION^Accusé de réception^MetaDMPMSS||N^^expandedYes-NoIndicator"
        "||||||F",
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")
