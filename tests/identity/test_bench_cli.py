"""``hub bench identity`` through the CLI, small sizes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hub.cli import app

KEYS = {"precision_auto", "recall_auto", "recall_auto_review", "review_rate", "f1_auto"}


def _run(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["bench", "identity", *args])
    assert result.exit_code == 0, result.output
    parsed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def test_febrl4_json_has_both_variants_with_perfect_auto_precision() -> None:
    result = _run("--dataset", "febrl4", "--json")
    for variant in ("with_ssn", "without_ssn"):
        figures = result[variant]
        assert isinstance(figures, dict)
        assert figures.keys() >= KEYS
        assert figures["precision_auto"] == 1.0
    without = result["without_ssn"]
    assert isinstance(without, dict)
    assert without["recall_auto_review"] >= 0.995
    assert without["review_rate"] <= 0.03


def test_synthetic_small_run() -> None:
    result = _run("--dataset", "synthetic-fr", "--size", "1500", "--json")
    assert result.keys() >= KEYS
    assert result["precision_auto"] == 1.0
    assert result["collisions_flagged"] == result["collisions_injected"]
    assert result["persons"] == 1500


def test_unknown_dataset_is_refused() -> None:
    result = CliRunner().invoke(app, ["bench", "identity", "--dataset", "nope"])
    assert result.exit_code == 2
