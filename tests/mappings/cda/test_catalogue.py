"""Every CDA model of the ANS catalogue is filed with its formatCode, typeCode and classCode.

The rows come from the data files of ``mappings/cda/data`` (ASS_A11, ASS_A12,
ASS_X04, JDV_J06/J07/J10); the documents from :mod:`tests.mappings.cda.models`.
"""

from __future__ import annotations

import pytest

from hub.errors import MappingError
from mappings.cda import map_cda
from mappings.cda.tables import (
    CLASS_SYSTEM,
    FR_FORMAT_SYSTEM,
    IHE_FORMAT_SYSTEM,
    ans_tables,
)
from tests.mappings.cda.models import auto_presentable, model_document

TABLES = ans_tables()
MODELS = sorted(TABLES.model_formats.items())


def test_the_tables_are_the_published_ones() -> None:
    assert TABLES.versions["ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS"] == \
        "20260629120000, 5.0.0"
    assert TABLES.versions["ASS_X04-CorrespondanceType-Classe-CISIS"] == "20240426120000"
    assert len(MODELS) == 86  # 52 + 31 structured models, and 3 only in version 5.0.0
    assert TABLES.model_formats["1.2.250.1.213.1.1.1.59"].version == "5.0.0"  # BIO-TROD
    assert TABLES.model_formats["1.2.250.1.213.1.1.1.10"].version == "20260629120000"  # CVA
    assert {c for c in TABLES.class_by_type.values()} <= set(TABLES.class_displays)


@pytest.mark.parametrize(("template", "row"), MODELS, ids=[t for t, _ in MODELS])
def test_every_model_is_filed_with_its_format_code(template: str, row: object) -> None:
    expected = TABLES.model_formats[template]
    entry = map_cda(model_document(template, type_code="11490-0")).entry
    assert entry.format_code.code == expected.code
    assert entry.format_code.system == expected.system
    assert entry.format_code.system in (IHE_FORMAT_SYSTEM, FR_FORMAT_SYSTEM)
    assert (entry.type_code.code, entry.type_code.display) == (
        "11490-0", "Lettre de liaison à la sortie d'un établissement de soins")
    assert entry.class_code is not None
    assert (entry.class_code.code, entry.class_code.system) == ("10", CLASS_SYSTEM)


TYPES = sorted(TABLES.class_by_type.items())


@pytest.mark.parametrize(("type_code", "class_code"), TYPES, ids=[t for t, _ in TYPES])
def test_every_type_of_ass_x04_gives_its_class_code(type_code: str, class_code: str) -> None:
    mapping = map_cda(model_document("1.2.250.1.213.1.1.1.13", type_code=type_code))
    entry = mapping.entry
    assert entry.class_code is not None
    assert (entry.class_code.code, entry.class_code.display) == (
        class_code, TABLES.class_displays[class_code])
    category = mapping.document_reference.category
    assert category is not None and category[0].coding[0].code == class_code


def test_imaging_reports_are_of_class_imaging_not_report() -> None:
    entry = map_cda(model_document("1.2.250.1.213.1.1.1.45", type_code="18748-4")).entry
    assert entry.class_code is not None
    assert (entry.class_code.code, entry.class_code.display) == ("31", "Imagerie médicale")


def test_a_type_outside_ass_x04_has_no_class_code() -> None:
    entry = map_cda(model_document("1.2.250.1.213.1.1.1.13", type_code="96163-1")).entry
    assert entry.class_code is None
    assert entry.type_code.display == "Bilan de soins infirmiers"


def test_a_cisis_model_wins_over_the_ihe_profile_it_derives_from() -> None:
    entry = map_cda(model_document("1.2.250.1.213.1.1.1.57",
                                   extra_templates=("1.3.6.1.4.1.19376.1.8.1.1.1",))).entry
    assert entry.format_code.code == "urn:ihe:palm:apsr:2016"


@pytest.mark.parametrize(("media_type", "format_code"), sorted(TABLES.media_type_formats.items()))
def test_every_media_type_of_ass_a12(media_type: str, format_code: str) -> None:
    body = (f'<nonXMLBody><text mediaType="{media_type}" representation="B64">'
            "SGVsbG8=</text></nonXMLBody>")
    if media_type == "application/pdf":
        body = body.replace("SGVsbG8=", "JVBERi0xLjQK")
    entry = map_cda(model_document("1.3.6.1.4.1.19376.1.2.20", body=body)).entry
    assert (entry.format_code.code, entry.format_code.system) == (format_code, IHE_FORMAT_SYSTEM)


def test_an_auto_presentable_document_is_filed_from_its_clinical_document() -> None:
    document = auto_presentable(model_document("1.2.250.1.213.1.1.1.55", type_code="11502-2",
                                               unique_id="1.2.250.1.999.42.61.1"))
    mapping = map_cda(document)
    assert mapping.entry.unique_id == "1.2.250.1.999.42.61.1"
    assert mapping.entry.format_code.code == "urn:ihe:lab:xd-lab:2008"
    assert mapping.entry.size == len(document)  # the file is filed whole


def test_a_stylesheet_without_a_clinical_document_is_refused_by_name() -> None:
    wrapped = (b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
               b'<xsl:template match="/"/></xsl:stylesheet>')
    with pytest.raises(MappingError, match="XSL 'stylesheet' that holds no 'ClinicalDocument'"):
        map_cda(wrapped)


def test_an_unknown_model_is_refused_naming_its_template_ids() -> None:
    with pytest.raises(MappingError) as caught:
        map_cda(model_document("1.2.250.1.999.7.7", extra_templates=("1.2.250.1.999.7.8",)))
    message = str(caught.value)
    assert "not in the CI-SIS catalogue" in message
    assert "1.2.250.1.999.7.7" in message and "1.2.250.1.999.7.8" in message
    assert caught.value.location == "/ClinicalDocument/templateId"
