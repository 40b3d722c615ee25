"""A Bloom filter of the (sender, control id) keys the journal holds.

It lets the intake skip the duplicate query for a key that was certainly never
stored (the usual case); a "maybe" still asks the database, so the answer is
always exact. It is only valid while one process writes the journal (the
embedded setup); with a shared database every key is checked in the database.
"""

from __future__ import annotations


class Bloom:
    """A fixed-size Bloom filter over strings (false-positive rate ~1 % at capacity)."""

    def __init__(self, capacity: int = 2_000_000, hashes: int = 7) -> None:
        self._bits = max(1024, capacity * 10)
        self._array = bytearray(self._bits // 8 + 1)
        self._hashes = hashes
        self.count = 0

    def _positions(self, key: str) -> list[int]:
        # Python's string hash is salted per process, which is fine: the filter
        # lives in memory only and is rebuilt from the journal at start.
        h1 = hash(key) & 0xFFFFFFFFFFFFFFFF
        h2 = hash((key, 1)) | 1
        bits = self._bits
        return [(h1 + i * h2) % bits for i in range(self._hashes)]

    def add(self, key: str) -> None:
        """Remember ``key``."""
        for pos in self._positions(key):
            self._array[pos >> 3] |= 1 << (pos & 7)
        self.count += 1

    def __contains__(self, key: str) -> bool:
        return all(self._array[pos >> 3] & (1 << (pos & 7)) for pos in self._positions(key))
