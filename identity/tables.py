"""Frequency tables of French names and birthplaces (used by the generator and
the phonetic measurement).

Weights are relative frequencies written for the project from the order of
magnitude of the most frequent French surnames and given names (INSEE civil
registers, births 1940-2020); they are meant to give realistic homonym rates,
not exact counts. Communes are INSEE codes (5 characters, Corsica ``2A``/``2B``,
``99xxx`` for countries of birth abroad).
"""

from __future__ import annotations

# Most frequent surnames, weight ~ bearers in thousands.
SURNAMES: tuple[tuple[str, int], ...] = (
    ("MARTIN", 235), ("BERNARD", 105), ("THOMAS", 96), ("PETIT", 92), ("ROBERT", 90),
    ("RICHARD", 89), ("DURAND", 86), ("DUBOIS", 84), ("MOREAU", 80), ("LAURENT", 78),
    ("SIMON", 76), ("MICHEL", 75), ("LEFEBVRE", 73), ("LEROY", 70), ("ROUX", 66),
    ("DAVID", 65), ("BERTRAND", 64), ("MOREL", 62), ("FOURNIER", 61), ("GIRARD", 60),
    ("BONNET", 58), ("DUPONT", 57), ("LAMBERT", 56), ("FONTAINE", 55), ("ROUSSEAU", 54),
    ("VINCENT", 53), ("MULLER", 52), ("LEFEVRE", 51), ("FAURE", 50), ("ANDRE", 50),
    ("MERCIER", 49), ("BLANC", 48), ("GUERIN", 47), ("BOYER", 46), ("GARNIER", 46),
    ("CHEVALIER", 45), ("FRANCOIS", 45), ("LEGRAND", 44), ("GAUTHIER", 44), ("GARCIA", 43),
    ("PERRIN", 43), ("ROBIN", 42), ("CLEMENT", 42), ("MORIN", 41), ("NICOLAS", 41),
    ("HENRY", 40), ("ROUSSEL", 40), ("MATHIEU", 39), ("GAUTIER", 39), ("MASSON", 38),
    ("MARCHAND", 38), ("DUVAL", 37), ("DENIS", 37), ("DUMONT", 36), ("MARIE", 36),
    ("LEMAIRE", 35), ("NOEL", 35), ("MEYER", 34), ("DUFOUR", 34), ("MEUNIER", 33),
    ("BRUN", 33), ("BLANCHARD", 32), ("GIRAUD", 32), ("JOLY", 31), ("RIVIERE", 31),
    ("LUCAS", 30), ("BRUNET", 30), ("GAILLARD", 30), ("BARBIER", 29), ("ARNAUD", 29),
    ("MARTINEZ", 29), ("GERARD", 28), ("ROCHE", 28), ("RENARD", 28), ("SCHMITT", 27),
    ("ROY", 27), ("LEROUX", 27), ("COLIN", 26), ("VIDAL", 26), ("CARON", 26),
    ("PICARD", 25), ("ROGER", 25), ("FABRE", 25), ("AUBERT", 24), ("LEMOINE", 24),
    ("RENAUD", 24), ("DUMAS", 23), ("LACROIX", 23), ("OLIVIER", 23), ("PHILIPPE", 22),
    ("BOURGEOIS", 22), ("PIERRE", 22), ("BENOIT", 21), ("REY", 21), ("LECLERC", 21),
    ("PAYET", 21), ("ROLLAND", 20), ("LECLERCQ", 20), ("GUILLAUME", 20), ("LECOMTE", 20),
    ("LOPEZ", 20), ("JEAN", 19), ("DUPUY", 19), ("GUILLOT", 19), ("HUBERT", 19),
    ("BERGER", 18), ("CARPENTIER", 18), ("SANCHEZ", 18), ("DUPUIS", 18), ("MOULIN", 18),
    ("LOUIS", 17), ("DESCHAMPS", 17), ("HUET", 17), ("VASSEUR", 17), ("PEREZ", 17),
    ("BOUCHER", 16), ("FLEURY", 16), ("ROYER", 16), ("KLEIN", 16), ("JACQUET", 16),
    ("ADAM", 15), ("PARIS", 15), ("POIRIER", 15), ("MARTY", 15), ("AUBRY", 15),
    ("GUYOT", 15), ("CARRE", 14), ("CHARLES", 14), ("RENAULT", 14), ("CHARPENTIER", 14),
    ("MENARD", 14), ("MAILLARD", 14), ("BARON", 13), ("BERTIN", 13), ("BAILLY", 13),
    ("HERVE", 13), ("SCHNEIDER", 13), ("FERNANDEZ", 13), ("LE GALL", 13), ("COLLET", 12),
    ("LEGER", 12), ("BOUVIER", 12), ("JULIEN", 12), ("PREVOST", 12), ("MILLET", 12),
    ("PERROT", 12), ("DANIEL", 12), ("LE ROUX", 11), ("COUSIN", 11), ("GERMAIN", 11),
    ("BRETON", 11), ("BESSON", 11), ("LANGLOIS", 11), ("REMY", 11), ("LE GOFF", 11),
    ("PELLETIER", 10), ("LEVEQUE", 10), ("PERRIER", 10), ("LEBLANC", 10), ("BARRE", 10),
    ("LEBRUN", 10), ("MARCHAL", 10), ("WEBER", 10), ("MALLET", 10), ("HAMON", 10),
    ("BOULANGER", 9), ("JACOB", 9), ("MONNIER", 9), ("MICHAUD", 9), ("RODRIGUEZ", 9),
    ("GUICHARD", 9), ("GILLET", 9), ("ETIENNE", 9), ("GRONDIN", 9), ("POULAIN", 9),
    ("TESSIER", 8), ("CHEVALLIER", 8), ("COLLIN", 8), ("CHAUVIN", 8), ("DA SILVA", 8),
    ("BOUCHET", 8), ("GAY", 8), ("LEMAITRE", 8), ("BENARD", 8), ("MARECHAL", 8),
    ("HUMBERT", 8), ("REYNAUD", 8), ("ANTOINE", 8), ("HOARAU", 8), ("PERRET", 7),
    ("BARTHELEMY", 7), ("CORDIER", 7), ("PICHON", 7), ("LEJEUNE", 7), ("GILBERT", 7),
    ("LAMY", 7), ("DELAUNAY", 7), ("PASQUIER", 7), ("CARLIER", 7), ("LAPORTE", 7),
    ("NGUYEN", 7), ("DOS SANTOS", 6), ("DE OLIVEIRA", 6), ("DIALLO", 6), ("D'ALMEIDA", 4),
    ("DE LA FONTAINE", 3), ("LE BIHAN", 5), ("N'DIAYE", 4), ("BEN SALAH", 3),
    ("EL AMRANI", 3), ("O'NEIL", 1), ("DE SOUSA", 5), ("DU PONT", 2), ("DES ROCHES", 2),
    ("LA ROCHE", 2), ("D'ARTAGNAN", 1), ("SAINT-JUST", 2), ("VAN DER BERG", 1),
)

# Pieces of the long tail of surnames: root + ending, real French morphology
# (Breton -EC/-OU, Occitan -AC/-ES, Alsatian -ER, northern -ART/-IER...).
SURNAME_ROOTS: tuple[str, ...] = (
    "BEAU", "BEL", "BERT", "BLOND", "BOIS", "BOUR", "BRO", "CAIL", "CHAM", "CHAR", "CHAU",
    "COR", "COUR", "DAR", "DEL", "DEV", "DROU", "FAV", "FER", "FLO", "FOUR", "GAL", "GAR",
    "GIL", "GOD", "GRAN", "GRO", "GUIL", "HAR", "JAC", "JOU", "KER", "LAB", "LAC", "LAN",
    "LAV", "MAL", "MAR", "MAU", "MER", "MIL", "MON", "MOR", "NAU", "PAL", "PAS", "PEL",
    "PER", "PIC", "PLAN", "POU", "RAB", "RAM", "RIB", "ROC", "ROU", "SAL", "SAU", "TAL",
    "TEX", "THI", "TOUR", "VAL", "VAU", "VER", "VIL",
)
SURNAME_ENDINGS: tuple[str, ...] = (
    "ARD", "AUD", "AULT", "EAU", "ET", "OT", "IN", "IER", "IERE", "ON", "AC", "ES", "EC",
    "OU", "ER", "ANT", "ENT", "AIS", "OIS", "EL", "ELLE", "ILLE", "AND", "ERT", "IOT",
    "AIN", "AN", "Y", "IE", "OUX", "ERON", "ONNET", "ELIN", "ARDY",
)

MALE_GIVEN: tuple[tuple[str, int], ...] = (
    ("JEAN", 90), ("PIERRE", 60), ("MICHEL", 55), ("ANDRE", 45), ("PHILIPPE", 44),
    ("NICOLAS", 42), ("ALAIN", 40), ("JACQUES", 40), ("BERNARD", 36), ("CHRISTOPHE", 35),
    ("DANIEL", 34), ("FREDERIC", 33), ("THOMAS", 33), ("DAVID", 32), ("PATRICK", 32),
    ("LAURENT", 31), ("STEPHANE", 31), ("SEBASTIEN", 30), ("JULIEN", 30), ("CHRISTIAN", 30),
    ("ERIC", 29), ("FRANCOIS", 29), ("PASCAL", 28), ("GERARD", 27), ("OLIVIER", 27),
    ("ALEXANDRE", 26), ("GEORGES", 25), ("ANTOINE", 25), ("LOUIS", 25), ("ROGER", 24),
    ("MAXIME", 24), ("VINCENT", 24), ("MARCEL", 23), ("RENE", 23), ("GUILLAUME", 23),
    ("DOMINIQUE", 22), ("THIERRY", 22), ("ROBERT", 21), ("ANTHONY", 21), ("HUGO", 20),
    ("LUCAS", 20), ("ROMAIN", 20), ("YVES", 20), ("PAUL", 20), ("KEVIN", 19),
    ("CLAUDE", 19), ("HENRI", 19), ("MATHIEU", 18), ("DIDIER", 18), ("ARNAUD", 18),
    ("JEROME", 18), ("BRUNO", 17), ("SERGE", 17), ("JULES", 17), ("GABRIEL", 17),
    ("LEO", 16), ("RAPHAEL", 16), ("ARTHUR", 16), ("NATHAN", 16), ("ENZO", 15),
    ("QUENTIN", 15), ("BENJAMIN", 15), ("CEDRIC", 15), ("MATHIS", 14), ("THEO", 14),
    ("CLEMENT", 14), ("FRANCK", 14), ("JOEL", 13), ("GILLES", 13), ("MARC", 13),
    ("YANN", 12), ("FABRICE", 12), ("RAYMOND", 12), ("LUC", 12), ("EMMANUEL", 12),
    ("MAURICE", 11), ("FERNAND", 11), ("LOUKA", 10), ("NOAH", 10), ("ADAM", 10),
    ("MOHAMED", 10), ("KILLIAN", 9), ("TRISTAN", 9), ("VICTOR", 9), ("ETIENNE", 9),
    ("CYRIL", 9), ("HERVE", 9), ("GREGORY", 8), ("SAMUEL", 8), ("TIMOTHEE", 8),
    ("AURELIEN", 8), ("DAMIEN", 8), ("JEAN-PIERRE", 14), ("JEAN-CLAUDE", 10),
    ("JEAN-LUC", 9), ("JEAN-MARC", 8), ("JEAN-FRANCOIS", 8), ("JEAN-PAUL", 7),
    ("JEAN-MICHEL", 7), ("JEAN-BAPTISTE", 6), ("PIERRE-ANTOINE", 3), ("MARC-ANTOINE", 3),
    ("LOUIS-MARIE", 2), ("ANTOINE", 3), ("ELIOTT", 4), ("NOE", 4), ("SACHA", 4),
)

FEMALE_GIVEN: tuple[tuple[str, int], ...] = (
    ("MARIE", 90), ("NATHALIE", 45), ("ISABELLE", 44), ("SYLVIE", 40), ("CATHERINE", 40),
    ("FRANCOISE", 38), ("MONIQUE", 36), ("CHRISTINE", 35), ("SANDRINE", 33), ("VALERIE", 33),
    ("STEPHANIE", 32), ("NICOLE", 31), ("CELINE", 31), ("SOPHIE", 30), ("AURELIE", 29),
    ("JULIE", 29), ("CAMILLE", 28), ("LAURA", 27), ("MANON", 27), ("EMMA", 27),
    ("CHANTAL", 26), ("ANNE", 26), ("MARTINE", 25), ("JACQUELINE", 25), ("PATRICIA", 24),
    ("SARAH", 24), ("LEA", 24), ("CHLOE", 23), ("JEANNE", 23), ("MICHELE", 22),
    ("SUZANNE", 21), ("DENISE", 21), ("HELENE", 21), ("CAROLINE", 20), ("EMILIE", 20),
    ("PAULINE", 20), ("VIRGINIE", 19), ("AUDREY", 19), ("CHRISTIANE", 19), ("DANIELLE", 18),
    ("BRIGITTE", 18), ("CLAIRE", 18), ("AGNES", 17), ("ELISABETH", 17), ("ANNIE", 17),
    ("JOSIANE", 16), ("ODILE", 15), ("MARINE", 15), ("CAMILA", 6), ("LOUISE", 15),
    ("ALICE", 15), ("INES", 14), ("JADE", 14), ("LINA", 12), ("ROSE", 12), ("ZOE", 12),
    ("AMBRE", 11), ("ANNA", 11), ("MARGAUX", 11), ("CLARA", 11), ("LUCIE", 11),
    ("ELODIE", 11), ("MELANIE", 11), ("LAETITIA", 10), ("VANESSA", 10), ("SEVERINE", 10),
    ("KARINE", 10), ("CORINNE", 10), ("VERONIQUE", 10), ("DOMINIQUE", 10), ("GINETTE", 9),
    ("YVETTE", 9), ("COLETTE", 9), ("GAELLE", 9), ("MAELYS", 8), ("ROMANE", 8),
    ("OCEANE", 8), ("MATHILDE", 8), ("JULIETTE", 8), ("AGATHE", 7), ("CAPUCINE", 6),
    ("ELISE", 7), ("MARGOT", 7), ("NOEMIE", 7), ("ALINE", 7), ("CECILE", 7),
    ("FLORENCE", 7), ("MYRIAM", 6), ("FATIMA", 6), ("YASMINE", 6), ("ANAIS", 6),
    ("MARIE-CLAIRE", 8), ("MARIE-CHRISTINE", 8), ("MARIE-THERESE", 7), ("ANNE-MARIE", 8),
    ("MARIE-FRANCE", 6), ("MARIE-PIERRE", 5), ("MARIE-CECILE", 4), ("ANNE-SOPHIE", 6),
    ("MARIE-LAURE", 5), ("MARIE-HELENE", 5), ("MARIE-NOELLE", 3), ("LOU-ANN", 3),
)

# Birth communes, weight ~ births; the generator adds a long tail of small
# communes per department. Arrondissements of Paris, Marseille and Lyon are
# coded separately in birth records, as INSEE does.
COMMUNES: tuple[tuple[str, int], ...] = (
    *((f"751{n:02d}", 30) for n in range(1, 21)),
    *((f"132{n:02d}", 12) for n in range(1, 17)),
    *((f"6938{n}", 14) for n in range(1, 10)),
    ("31555", 60), ("06088", 40), ("44109", 40), ("67482", 35), ("34172", 35),
    ("33063", 35), ("59350", 35), ("35238", 30), ("51454", 25), ("76351", 25),
    ("42218", 25), ("83137", 22), ("38185", 22), ("21231", 20), ("49007", 20),
    ("30189", 18), ("69266", 18), ("63113", 18), ("37261", 18), ("87085", 15),
    ("2A004", 8), ("2B033", 7), ("97411", 15), ("97209", 10), ("97105", 8),
    ("99350", 12), ("99352", 14), ("99351", 6), ("99134", 5), ("99139", 8), ("99127", 5),
)

# Departments of metropolitan France for the long tail of small communes.
DEPARTMENTS: tuple[str, ...] = (
    *(f"{n:02d}" for n in range(1, 20)), "2A", "2B", *(f"{n:02d}" for n in range(21, 96)),
)
