"""Micro-benchmark of the mappings: microseconds per message (``hub bench mappings``).

Inputs are built here, from the project's own invented content, in the shapes
the hub receives:

* ``adt_to_fhir_us``: a PAM France 2.11 ADT^A01 (IPP and INS-NIR in PID-3,
  PID-32 ``VALI``, PV1, ZBE, ZFD) parsed with :func:`hub.hl7.er7.parse`, then
  ``mappings.hl7v2.map_adt``;
* ``oru_cda_us``: a CI-SIS ORU^R01 whose OBX-5 carries a CR-BIO CDA (ED,
  Base64) with MetaDMPMSS flags and a PRT recipient, through
  ``mappings.hl7v2.map_document_message``;
* ``crbio_cda_us``: :func:`mappings.cda.map_cda` on a CR-BIO level 3 document
  of about 135 KB (44 results in five chapters, specimen collections,
  batteries, earlier results for comparison, and the PDF copy section that
  CI-SIS CR-BIO documents carry);
* ``dicom_us``: :func:`mappings.dicom.map_dicom_instance` on the header of
  pydicom's bundled ``CT_small.dcm``.

Each figure is the median of ``repeat`` timed calls (``time.perf_counter_ns``)
after a few warm-up calls.
"""

from __future__ import annotations

import base64
import random
import statistics
import sys
import time
from collections.abc import Callable

from mappings.cda import map_cda
from mappings.hl7v2 import map_adt, map_document_message

__all__ = ["DEFAULT_REPEAT", "build_adt_a01", "build_crbio", "build_oru_cda", "run"]

DEFAULT_REPEAT: dict[str, int] = {"adt_to_fhir_us": 2000, "oru_cda_us": 200,
                                  "crbio_cda_us": 100, "dicom_us": 1000}

# (LOINC, display, UCUM unit, value, low, high)
_Analyte = tuple[str, str, str, str, str, str]
_CHAPTERS: list[tuple[str, str, list[_Analyte]]] = [
    ("26436-6", "Hématologie", [
        ("6690-2", "Leucocytes", "10*9/L", "6.8", "4.0", "10.0"),
        ("789-8", "Hématies", "10*12/L", "4.61", "3.80", "5.90"),
        ("718-7", "Hémoglobine", "g/dL", "13.9", "12.0", "17.5"),
        ("4544-3", "Hématocrite", "%", "41.2", "36.0", "52.0"),
        ("787-2", "VGM", "fL", "89.4", "80.0", "100.0"),
        ("785-6", "TCMH", "pg", "30.2", "27.0", "32.0"),
        ("786-4", "CCMH", "g/dL", "33.7", "32.0", "36.0"),
        ("777-3", "Plaquettes", "10*9/L", "262", "150", "400"),
        ("751-8", "Polynucléaires neutrophiles", "10*9/L", "4.10", "1.50", "7.00"),
        ("731-0", "Lymphocytes", "10*9/L", "1.95", "1.00", "4.00"),
        ("742-7", "Monocytes", "10*9/L", "0.52", "0.20", "1.00"),
        ("711-2", "Polynucléaires éosinophiles", "10*9/L", "0.18", "0.00", "0.50"),
        ("704-7", "Polynucléaires basophiles", "10*9/L", "0.05", "0.00", "0.20"),
    ]),
    ("18719-5", "Biochimie", [
        ("2951-2", "Sodium", "mmol/L", "139", "135", "145"),
        ("2823-3", "Potassium", "mmol/L", "4.3", "3.5", "5.1"),
        ("2075-0", "Chlore", "mmol/L", "102", "98", "107"),
        ("1963-8", "Bicarbonates", "mmol/L", "25", "22", "29"),
        ("22664-7", "Urée", "mmol/L", "5.9", "2.8", "7.6"),
        ("14682-9", "Créatinine", "umol/L", "78", "45", "104"),
        ("62238-1", "DFG estimé (CKD-EPI)", "mL/min/{1.73_m2}", "92", "60", "200"),
        ("2885-2", "Protéines totales", "g/L", "71", "64", "83"),
        ("1751-7", "Albumine", "g/L", "43", "35", "52"),
        ("2000-8", "Calcium", "mmol/L", "2.38", "2.15", "2.55"),
        ("14879-1", "Phosphore", "mmol/L", "1.05", "0.81", "1.45"),
        ("14933-6", "Acide urique", "umol/L", "312", "150", "420"),
        ("1988-5", "Protéine C réactive", "mg/L", "2.1", "0.0", "5.0"),
        ("40193-5", "Glucose à jeun", "mmol/L", "6.4", "3.9", "6.0"),
        ("4548-4", "Hémoglobine glyquée", "%", "6.1", "4.0", "6.0"),
    ]),
    ("18723-7", "Enzymologie", [
        ("1920-8", "ASAT", "U/L", "28", "0", "35"),
        ("1742-6", "ALAT", "U/L", "41", "0", "45"),
        ("2324-2", "Gamma GT", "U/L", "36", "0", "55"),
        ("6768-6", "Phosphatases alcalines", "U/L", "74", "40", "130"),
        ("14631-6", "Bilirubine totale", "umol/L", "11", "0", "21"),
        ("2532-0", "LDH", "U/L", "188", "125", "243"),
    ]),
    ("18767-4", "Bilan lipidique", [
        ("14647-2", "Cholestérol total", "mmol/L", "5.62", "0.00", "5.20"),
        ("14646-4", "Cholestérol HDL", "mmol/L", "1.41", "1.00", "2.20"),
        ("22748-8", "Cholestérol LDL", "mmol/L", "3.65", "0.00", "3.40"),
        ("14927-8", "Triglycérides", "mmol/L", "1.23", "0.00", "1.70"),
    ]),
    ("18718-7", "Hormonologie, vitamines", [
        ("3016-3", "TSH", "m[IU]/L", "1.95", "0.27", "4.20"),
        ("3024-7", "T4 libre", "pmol/L", "14.2", "12.0", "22.0"),
        ("2276-4", "Ferritine", "ug/L", "86", "30", "400"),
        ("2132-9", "Vitamine B12", "pmol/L", "318", "145", "569"),
        ("2284-8", "Folates sériques", "nmol/L", "17.5", "7.0", "46.4"),
        ("62292-8", "25-OH vitamine D", "nmol/L", "58", "75", "250"),
    ]),
]


def _flag(value: str, low: str, high: str) -> str:
    number = float(value)
    return "L" if number < float(low) else "H" if number > float(high) else "N"


def _observation(analyte: _Analyte, with_previous: bool) -> str:
    code, display, unit, value, low, high = analyte
    previous = f"""
                  <entryRelationship typeCode="REFR">
                    <observation classCode="OBS" moodCode="EVN">
                      <code code="{code}" codeSystem="2.16.840.1.113883.6.1"
                            displayName="{display}"/>
                      <statusCode code="completed"/>
                      <effectiveTime value="20240611081500+0200"/>
                      <value xsi:type="PQ" value="{value}" unit="{unit}"/>
                    </observation>
                  </entryRelationship>""" if with_previous else ""
    return f"""
              <component>
                <observation classCode="OBS" moodCode="EVN">
                  <templateId root="1.3.6.1.4.1.19376.1.3.1.6"/>
                  <templateId root="1.2.250.1.213.1.1.3.80"/>
                  <code code="{code}" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"
                        displayName="{display}">
                    <originalText><reference value="#res-{code}"/></originalText>
                  </code>
                  <statusCode code="completed"/>
                  <effectiveTime value="20250114101500+0100"/>
                  <value xsi:type="PQ" value="{value}" unit="{unit}"/>
                  <interpretationCode code="{_flag(value, low, high)}"
                                      codeSystem="2.16.840.1.113883.5.83"/>{previous}
                  <referenceRange typeCode="REFV">
                    <observationRange classCode="OBS" moodCode="EVN.CRT">
                      <value xsi:type="IVL_PQ">
                        <low value="{low}" unit="{unit}"/>
                        <high value="{high}" unit="{unit}"/>
                      </value>
                      <interpretationCode code="N" codeSystem="2.16.840.1.113883.5.83"/>
                    </observationRange>
                  </referenceRange>
                </observation>
              </component>"""


def _chapter(code: str, title: str, analytes: list[_Analyte]) -> str:
    rows = "".join(
        f"""
                <tr><td><content ID="res-{a[0]}">{a[1]}</content></td><td>{a[3]} {a[2]}</td>"""
        f"<td>({a[4]} - {a[5]})</td><td>{_flag(a[3], a[4], a[5])}</td></tr>"
        for a in analytes)
    components = "".join(_observation(a, n % 2 == 0) for n, a in enumerate(analytes))
    return f"""
      <component>
        <section>
          <templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/>
          <templateId root="1.2.250.1.213.1.1.2.70"/>
          <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{title}"/>
          <title>{title.upper()}</title>
          <text>
            <table border="0">
              <thead><tr><th>Examen</th><th>Résultat</th><th>Référence</th><th>Flag</th></tr></thead>
              <tbody>{rows}
              </tbody>
            </table>
          </text>
          <entry typeCode="DRIV">
            <templateId root="1.3.6.1.4.1.19376.1.3.1"/>
            <templateId root="1.2.250.1.213.1.1.3.21"/>
            <act classCode="ACT" moodCode="EVN">
              <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{title}"/>
              <statusCode code="completed"/>
              <entryRelationship typeCode="COMP">
                <procedure classCode="PROC" moodCode="EVN">
                  <templateId root="1.3.6.1.4.1.19376.1.3.1.2"/>
                  <templateId root="1.2.250.1.213.1.1.3.77"/>
                  <code code="9050" codeSystem="1.2.250.1.213.2.7" displayName="Ponction veineuse"/>
                  <effectiveTime><high value="202501140750+0100"/></effectiveTime>
                </procedure>
              </entryRelationship>
              <entryRelationship typeCode="COMP">
                <organizer classCode="BATTERY" moodCode="EVN">
                  <templateId root="1.3.6.1.4.1.19376.1.3.1.4"/>
                  <templateId root="1.2.250.1.213.1.1.3.78"/>
                  <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{title}"/>
                  <statusCode code="completed"/>{components}
                </organizer>
              </entryRelationship>
            </act>
          </entry>
        </section>
      </component>"""


_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.3.3"/>
  <templateId root="1.2.250.1.213.1.1.1.55"/>
  <id root="1.2.250.1.999.42.7.{serial}"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu d'examens biologiques</title>
  <effectiveTime value="20250114113000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <setId root="1.2.250.1.999.42.7.{serial}.0"/>
  <versionNumber value="1"/>
  <recordTarget>
    <patientRole>
      <id root="1.2.250.1.213.1.4.10" extension="285066311304507"/>
      <id root="1.2.250.1.999.42.1" extension="IPP-77120"/>
      <addr use="H"><houseNumber>4</houseNumber><streetName>rue des Gras</streetName>
        <postalCode>63000</postalCode><city>CLERMONT-FERRAND</city></addr>
      <telecom value="tel:0473000001" use="H"/>
      <patient classCode="PSN">
        <name><family qualifier="BR">ROBERT</family><given>LUCIE ANNE</given>
          <given qualifier="BR">LUCIE</given><family qualifier="CL">FAURE</family>
          <given qualifier="CL">LUCIE</given></name>
        <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
        <birthTime value="19850612"/>
        <birthplace><place><addr><county>63113</county></addr></place></birthplace>
      </patient>
    </patientRole>
  </recordTarget>
  <author>
    <time value="20250114112500+0100"/>
    <assignedAuthor>
      <id root="1.2.250.1.71.4.2.1" extension="810000000012"/>
      <code code="G15_10/SM03" codeSystem="1.2.250.1.213.1.1.4.5"
            displayName="Médecin - Biologie médicale (SM)"/>
      <assignedPerson><name><prefix>DR</prefix><given>Paul</given><family>MARCHAND</family></name></assignedPerson>
      <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1630000042"/>
        <name>Laboratoire des Volcans</name></representedOrganization>
    </assignedAuthor>
  </author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1630000042"/>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <legalAuthenticator>
    <time value="20250114112500+0100"/><signatureCode code="S"/>
    <assignedEntity><id root="1.2.250.1.71.4.2.1" extension="810000000012"/>
      <assignedPerson><name><given>Paul</given><family>MARCHAND</family></name></assignedPerson>
    </assignedEntity>
  </legalAuthenticator>
  <documentationOf><serviceEvent>
    <effectiveTime><low value="20250114081500+0100"/>
      <high value="20250114112000+0100"/></effectiveTime>
    <performer typeCode="PRF"><assignedEntity>
      <id root="1.2.250.1.71.4.2.1" extension="810000000012"/>
      <representedOrganization>
        <standardIndustryClassCode code="AMBULATOIRE" codeSystem="1.2.250.1.213.1.1.4.9"/>
      </representedOrganization></assignedEntity></performer>
  </serviceEvent></documentationOf>
  <componentOf><encompassingEncounter>
    <effectiveTime><low value="20250114081500+0100"/></effectiveTime>
    <location><healthCareFacility><code code="SA25" codeSystem="1.2.250.1.71.4.2.4"/>
    </healthCareFacility></location>
  </encompassingEncounter></componentOf>
  <component>
    <structuredBody>"""


def _pdf(lines: list[str], font_bytes: int) -> bytes:
    """A small valid PDF listing ``lines``, with an embedded font program of ``font_bytes``.

    The font program is deterministic noise: it stands for the subset fonts a
    laboratory system embeds, which make up most of a real report's size.
    """
    text = " ".join(f"({line}) Tj 0 -14 Td" for line in lines)
    stream = f"BT /F1 10 Tf 50 800 Td {text} ET".encode("latin-1", "replace")
    noise = random.Random(42).randbytes(font_bytes)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /TrueType /BaseFont /Arial /FontDescriptor 6 0 R >>",
        b"<< /Type /FontDescriptor /FontName /Arial /FontFile2 7 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(noise), noise),
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return out


def _pdf_copy(pdf: bytes) -> str:
    encoded = base64.b64encode(pdf).decode("ascii")
    return f"""
      <component>
        <section>
          <templateId root="1.2.250.1.213.1.1.2.243"/>
          <code code="55108-5" codeSystem="2.16.840.1.113883.6.1" displayName="Copie du document"/>
          <title>Copie du document</title>
          <text><renderMultiMedia referencedObject="doc-1"/></text>
          <entry>
            <organizer classCode="CLUSTER" moodCode="EVN">
              <templateId root="1.2.250.1.213.1.1.3.18"/>
              <statusCode code="completed"/>
              <component>
                <observationMedia classCode="OBS" moodCode="EVN" ID="doc-1">
                  <value mediaType="application/pdf" representation="B64">{encoded}</value>
                </observationMedia>
              </component>
            </organizer>
          </entry>
        </section>
      </component>"""


def build_crbio(serial: int = 1, font_bytes: int = 36_000) -> bytes:
    """A CR-BIO level 3 document: 44 results and its PDF copy, about 135 KB by default."""
    chapters = "".join(_chapter(code, title, analytes) for code, title, analytes in _CHAPTERS)
    lines = [f"{a[1]}: {a[3]} {a[2]} ({a[4]} - {a[5]})" for _, _, group in _CHAPTERS
             for a in group]
    tail = "\n    </structuredBody>\n  </component>\n</ClinicalDocument>\n"
    copy = _pdf_copy(_pdf(lines, font_bytes)) if font_bytes else ""
    return (_HEADER.format(serial=serial) + chapters + copy + tail).encode("utf-8")


def build_adt_a01() -> bytes:
    """A PAM France 2.11 ADT^A01 with IPP and a qualified INS-NIR (test space)."""
    segments = [
        "MSH|^~\\&|GAM|CH-VOLCANS|HUB|GRADES|20250114093000||ADT^A01^ADT_A01|A01-0001|P|"
        "2.5^FRA^2.11|||AL|NE|FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM",
        "EVN||20250114093000||||20250114092500",
        "PID|1||77120^^^CH-VOLCANS&1.2.250.1.999.42.1&ISO^PI~285066311304507^^^"
        "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS||ROBERT^LUCIE^LUCIE ANNE^^^^L~"
        "FAURE^LUCIE^^^^^D||19850612|F|||4 rue des Gras^^CLERMONT-FERRAND^^63000^FRA^H~"
        "^^^^^^BDL^^63113||^PRN^PH^^^^^^^^^0473000001|||M||V-5521^^^CH-VOLCANS&"
        "1.2.250.1.999.42.1&ISO^AN||||||||||||N||VALI",
        "PV1|1|I|MED^204^1^CH-VOLCANS&1.2.250.1.999.42.1&ISO^^N|R|||810000000012^MARCHAND^"
        "PAUL^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^RPPS||||||||||||V-5521^^^"
        "CH-VOLCANS&1.2.250.1.999.42.1&ISO^VN|||||||||||||||||||||||||20250114092500",
        "ZBE|MVT-9001^CH-VOLCANS^1.2.250.1.999.42.1^ISO|20250114092500||INSERT|N||"
        "Médecine^^^^^CH-VOLCANS&1.2.250.1.999.42.1&ISO^UF^^^2040",
        "ZFD|||Y|N|INSI|20250114||",
    ]
    return "\r".join(segments).encode("utf-8") + b"\r"


def build_oru_cda(cda: bytes) -> bytes:
    """A CI-SIS ORU^R01 carrying ``cda`` in OBX-5 (ED, Base64) with MetaDMPMSS flags."""
    encoded = base64.b64encode(cda).decode("ascii")
    segments = [
        "MSH|^~\\&|SIL|LABO-VOLCANS|HUB|GRADES|20250114113500||ORU^R01^ORU_R01|ORU-0001|P|"
        "2.5|||||FRA|UNICODE UTF-8|||2.1^CISIS_CDA_HL7_V2",
        "PID|||285066311304507^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS~77120^^^"
        "CH-VOLCANS&1.2.250.1.999.42.1&ISO^PI||ROBERT^LUCIE^LUCIE ANNE^^^^L||19850612|F"
        + "|" * 22 + "N||VALI",
        "PV1|1|O|LABO^^^CH-VOLCANS&1.2.250.1.999.42.1&ISO",
        "ORC|SC|CMD-3001^LABO-VOLCANS|RES-3001^LABO-VOLCANS",
        "OBR|1|CMD-3001^LABO-VOLCANS|RES-3001^LABO-VOLCANS|11502-2^CR d'examens biologiques^LN"
        "|||20250114075000|||||||||810000000012^MARCHAND^PAUL^^^DR||||||||F",
        f"OBX|1|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^{encoded}||||||F",
        "OBX|2|CE|DESTDMP^Destinataire DMP^MetaDMPMSS||Y^^HL70136||||||F",
        "OBX|3|CE|DESTMSSANTEPS^Destinataire (professionnel de santé)^MetaDMPMSS||"
        "Y^^HL70136||||||F",
        "OBX|4|CE|ACK_RECEPTION^Accusé de réception^MetaDMPMSS||Y^^HL70136||||||F",
        "PRT||UC||RCT^^HL70912|810000000077^GIRAUD^HELENE^^^^^^ASIP-SANTE-PS&"
        "1.2.250.1.71.4.2.1&ISO^D^^^RPPS||||||||||^^X.400^helene.giraud@test.mssante.fr",
    ]
    return "\r".join(segments).encode("utf-8") + b"\r"


def _median_us(call: Callable[[], object], repeat: int) -> float:
    for _ in range(min(10, repeat)):
        call()
    samples: list[int] = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return round(statistics.median(samples) / 1000, 1)


def _cases() -> dict[str, Callable[[], object]]:
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    from hub.hl7.er7 import parse
    from mappings.dicom import map_dicom_instance

    crbio = build_crbio()
    adt, oru = build_adt_a01(), build_oru_cda(build_crbio(serial=2, font_bytes=0))
    path = get_testdata_file("CT_small.dcm")
    if not isinstance(path, str):
        raise RuntimeError("pydicom's bundled CT_small.dcm is missing")
    header = dcmread(path, stop_before_pixels=True)
    return {
        "adt_to_fhir_us": lambda: map_adt(parse(adt)),
        "oru_cda_us": lambda: map_document_message(parse(oru)),
        "crbio_cda_us": lambda: map_cda(crbio),
        "dicom_us": lambda: map_dicom_instance(header),
    }


def run(json_output: bool = False, repeat: int | None = None) -> dict[str, float]:
    """Median microseconds per message for each mapping.

    ``repeat`` overrides the number of timed calls of every case
    (:data:`DEFAULT_REPEAT`). Without ``json_output`` progress goes to stderr.
    """
    results: dict[str, float] = {}
    for key, call in _cases().items():
        if not json_output:
            print(f"measuring {key}...", file=sys.stderr)
        results[key] = _median_us(call, repeat or DEFAULT_REPEAT[key])
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(json_output="--json" in sys.argv)))
