"""Minimal CDA R2 documents of any CI-SIS model, written for the tests.

:func:`model_document` builds a structured-body document declaring the
templateId of a CDA model (the rows of ASS_A11), with the header the XDS
metadata need and nothing else; :func:`auto_presentable` wraps a document the
way the CI-SIS "auto-presentable" examples of TestContenuCDA do
(``xsl:stylesheet/data:Contenu/ClinicalDocument``). Every identifier is
invented; the INS is of the test space (``1.2.250.1.213.1.4.10``).
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

INS_TEST = "1.2.250.1.213.1.4.10"
INS = "279035121518989"
IPP_AUTHORITY = "1.2.250.1.999.42.1"


def model_document(
    template_id: str,
    *,
    unique_id: str = "1.2.250.1.999.42.60.1",
    type_code: str = "11488-4",
    effective: str = "20250301101500+0100",
    ins: str = INS,
    ipp: str = "IPP-0042",
    extra_templates: tuple[str, ...] = (),
    versioning: str = "",
    context: str = "",
    body: str = "<structuredBody><component><section><title>Conclusion</title>"
                "<text>Examen sans particularité.</text></section></component>"
                "</structuredBody>",
) -> bytes:
    """A CDA document of the model ``template_id`` (``unique_id`` is ``root[^extension]``).

    ``versioning`` goes after ``languageCode`` (setId, versionNumber),
    ``context`` after ``custodian`` (documentationOf, relatedDocument...).
    """
    root, _, extension = unique_id.partition("^")
    id_attrs = f"root={quoteattr(root)}" + (f" extension={quoteattr(extension)}"
                                            if extension else "")
    templates = "".join(f"<templateId root={quoteattr(t)}/>"
                        for t in ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1",
                                  *extra_templates, template_id))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  {templates}
  <id {id_attrs}/>
  <code code={quoteattr(type_code)} codeSystem="2.16.840.1.113883.6.1"/>
  <title>Document de test</title>
  <effectiveTime value={quoteattr(effective)}/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  {versioning}
  <recordTarget><patientRole>
    <id root="{INS_TEST}" extension={quoteattr(ins)}/>
    <id root="{IPP_AUTHORITY}" extension={quoteattr(ipp)}/>
    <patient>
      <name><family qualifier="BR">ESSAI</family><given qualifier="BR">CAMILLE</given></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="19840512"/>
    </patient>
  </patientRole></recordTarget>
  <author><time value="20250301101500+0100"/><assignedAuthor>
    <id root="1.2.250.1.71.4.2.1" extension="810000000012"/>
    <assignedPerson><name><family>MARCHAND</family><given>LUC</given></name></assignedPerson>
    <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1999000001"/>
      <name>Centre de test</name></representedOrganization>
  </assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1999000001"/><name>Centre de test</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  {context}
  <component>{body}</component>
</ClinicalDocument>
""".encode()


def auto_presentable(document: bytes) -> bytes:
    """``document`` inside an XSL stylesheet, as a CI-SIS auto-presentable document."""
    inner = document.decode().split("?>", 1)[1].replace(
        '<ClinicalDocument xmlns="urn:hl7-org:v3">',
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">')
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="#"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:data="urn:asip-sante:ci-sis" xmlns:c="urn:hl7-org:v3">
  <data:Contenu>{inner}</data:Contenu>
  <xsl:template match="/">
    <html><body><xsl:value-of select="//c:title"/></body></html>
  </xsl:template>
</xsl:stylesheet>
""".encode()
