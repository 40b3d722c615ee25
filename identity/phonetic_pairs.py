"""Measurement pairs for the phonetic keys (tables).

``VARIANT_GROUPS``: each group is one name and spellings of it that occur in
French registers (old and regional spellings, silent letters, doubled
consonants, ``PH``/``F``, ``TH``/``T``, ``C``/``K``/``QU``, final ``D``/``T``,
``-AULT``/``-AUD``). A good key gives the same value inside a group.
``DISTINCT_NAMES``: names that are not variants of one another; a good key
gives them different values (collisions make blocks larger and scores less
sure).
"""

from __future__ import annotations

from identity.tables import FEMALE_GIVEN, MALE_GIVEN, SURNAMES

VARIANT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("LEFEBVRE", "LEFEVRE", "LEFEBURE", "LEFEVBRE"), ("GAUTHIER", "GAUTIER", "GAULTIER"),
    ("MEUNIER", "MUNIER"), ("ROUSSEAU", "ROUSSEAUX", "ROUSSOT"), ("BERTRAND", "BERTRANT"),
    ("THOMAS", "TOMAS"), ("PHILIPPE", "FILIPPE", "PHILIPE"), ("RENAUD", "RENAULT", "RENAULD"),
    ("ARNAUD", "ARNAULT", "ARNAUT"), ("GIRAUD", "GIRAULT", "GIRAUT"), ("MICHAUD", "MICHAUT"),
    ("PERRAULT", "PERRAUD", "PERAULT"), ("CHEVALIER", "CHEVALLIER"), ("LEMAIRE", "LEMERRE"),
    ("BOULANGER", "BOULENGER"), ("MASSON", "MASON"), ("DUPONT", "DUPOND"),
    ("DURAND", "DURANT"), ("BERNARD", "BERNART"), ("ROBIN", "ROBBIN"),
    ("MOREAU", "MOREAUX", "MORAU"), ("RICHARD", "RICHART"), ("LAURENT", "LORENT"),
    ("FOURNIER", "FOURNIE"), ("CAILLAUD", "CAILLAUT", "CAILLAU"),
    ("SCHMITT", "SCHMIDT", "SCHMIT"), ("SCHNEIDER", "SCHNEIDRE", "SNEIDER"),
    ("BLANCHARD", "BLANCHART"), ("GUILLAUME", "GUILLOME"), ("MATHIEU", "MATTHIEU", "MATHIEUX"),
    ("THIERRY", "TIERRY"), ("HUBERT", "UBERT"), ("HERVE", "HERVEE"),
    ("CHRISTOPHE", "CRISTOPHE"), ("STEPHANE", "STEFANE", "STEPHANNE"),
    ("CATHERINE", "KATHERINE", "CATERINE"), ("NATHALIE", "NATALIE"), ("SOPHIE", "SOFIE"),
    ("MICHELE", "MICHELLE"), ("DANIELE", "DANIELLE"), ("ISABELLE", "ISABEL", "YSABELLE"),
    ("CLAIRE", "CLAIR", "CLERE"), ("GAELLE", "GAELE"), ("MAELYS", "MAELIS"),
    ("LOUIS", "LOUYS"), ("ANNE", "ANN"), ("BRIGITTE", "BRIGIT"), ("CEDRIC", "SEDRIC"),
    ("ERIC", "ERICK", "ERIK"), ("FRANCK", "FRANK"), ("YANN", "YAN"),
    ("QUENTIN", "KENTIN"), ("JACQUES", "JACQUE", "JAQUES"), ("FRANCOIS", "FRANSOIS"),
    ("CYRIL", "CYRILLE", "CIRILLE"), ("MARGAUX", "MARGOT", "MARGO"), ("THEO", "TEO"),
    ("LUCAS", "LUKAS"), ("MATHIS", "MATTHIS", "MATIS"), ("KILLIAN", "KYLIAN", "KILIAN"),
    ("CHLOE", "CLOE"), ("RAPHAEL", "RAFAEL"), ("TRISTAN", "TRYSTAN"),
    ("VINCENT", "VINSENT"), ("LAETITIA", "LETICIA", "LETITIA"), ("GUYOT", "GUIOT"),
    ("CHAUVIN", "CHOVIN"), ("FEBVRE", "FEVRE"), ("HENRY", "HENRI"),
    ("DESCHAMPS", "DECHAMPS"), ("DESJARDINS", "DEJARDIN", "DESJARDIN"),
    ("BEAUMONT", "BOMONT"), ("VAILLANT", "VAILLAND"), ("MALLET", "MALET"),
    ("HOARAU", "HOAREAU"), ("PAYET", "PAILLET"), ("LECLERC", "LECLERCQ", "LECLERE"),
    ("DUBOIS", "DUBOIT"), ("DESCAMPS", "DECAMPS"), ("POTIER", "POTTIER"),
    ("COQUELIN", "COCQUELIN"), ("ROUX", "ROUS"), ("GERMAIN", "GERMIN"),
    ("MARCHAND", "MARCHANT"), ("BOUCHER", "BOUCHE"), ("PELLETIER", "PELTIER", "PELLETIE"),
    ("GEORGES", "GEORGE", "JORGE"), ("GUERIN", "GUERAIN"), ("ROLLAND", "ROLAND"),
    ("FAURE", "FAURES"), ("MULLER", "MULER"), ("REYNAUD", "REYNAULT", "RAYNAUD"),
)

DISTINCT_NAMES: tuple[str, ...] = tuple(dict.fromkeys(
    name.replace("-", "").replace(" ", "").replace("'", "")
    for name, _ in (*SURNAMES, *MALE_GIVEN, *FEMALE_GIVEN)
))
