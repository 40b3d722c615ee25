"""Per-key lanes, the Bloom filter of stored keys, the connector registry."""

from __future__ import annotations

import asyncio
import inspect
import random
from pathlib import Path

import pytest

from hub.bloom import Bloom
from hub.config import FileDestination, MllpDestination
from hub.lanes import Lanes
from hub.registry import DESTINATION_TYPES, create_destination, resolve


async def test_lanes_keep_order_per_key_and_run_keys_in_parallel() -> None:
    lanes = Lanes(4, "test")
    seen: dict[str, list[int]] = {}
    running = 0
    peak = 0

    async def job(key: str, n: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(random.random() / 1000)
        seen.setdefault(key, []).append(n)
        running -= 1

    keys = [f"patient-{i}" for i in range(12)]
    futures = [lanes.run(k, lambda k=k, n=n: job(k, n)) for n in range(20) for k in keys]
    await asyncio.gather(*futures)
    await lanes.close()
    assert all(seen[k] == list(range(20)) for k in keys)
    assert peak > 1


async def test_a_failing_job_fails_its_future_and_the_lane_goes_on() -> None:
    lanes = Lanes(1, "test")

    async def boom() -> None:
        raise RuntimeError("no")

    async def fine() -> None:
        return None

    failed = lanes.run("k", boom)
    ok = lanes.run("k", fine)
    with pytest.raises(RuntimeError, match="no"):
        await failed
    assert await ok is None
    await lanes.close()


def test_bloom_has_no_false_negatives_and_few_false_positives() -> None:
    bloom = Bloom(capacity=20_000)
    stored = [f"GAM|CHU-X\x1f{n}" for n in range(20_000)]
    for key in stored:
        bloom.add(key)
    assert all(key in bloom for key in stored)
    others = [f"GAM|CHU-Y\x1f{n}" for n in range(20_000)]
    false_positives = sum(key in bloom for key in others)
    assert false_positives < 0.03 * len(others)


@pytest.mark.parametrize("kind", sorted(DESTINATION_TYPES))
def test_every_registered_destination_imports_with_the_expected_signature(kind: str) -> None:
    factory = resolve(DESTINATION_TYPES[kind])
    assert list(inspect.signature(factory).parameters) == ["name", "settings", "data_dir"]
    for method in ("start", "close", "deliver"):
        assert inspect.iscoroutinefunction(getattr(factory, method))


def test_create_destination_builds_each_kind(tmp_path: Path) -> None:
    file = create_destination("out", FileDestination(type="file", directory=Path("drop")),
                              tmp_path)
    assert file.lanes >= 1 and file.retry.max_attempts >= 1
    mllp = create_destination("down", MllpDestination(type="mllp", host="h", port=1), tmp_path)
    assert mllp.lanes == 4
