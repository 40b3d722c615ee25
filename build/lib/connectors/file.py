"""The ``file`` destination: one file per message, written atomically.

The file is written under a temporary name, fsynced, then renamed, so a
consumer polling the directory never sees a partial file. The name is the
delivery key, so a redelivery overwrites the same file instead of adding one.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from hub.config import FileDestination as FileSettings
from hub.delivery import DeliveryJob
from hub.errors import TransientDeliveryError

FILE_LANES = 4


class FileDestination:
    """Drops messages into a directory."""

    def __init__(self, name: str, settings: FileSettings, data_dir: Path) -> None:
        self.name = name
        self.settings = settings
        self.lanes = FILE_LANES
        self.ordered = settings.ordered
        self.retry = settings.retry
        directory = settings.directory
        self.directory = directory if directory.is_absolute() else data_dir / directory

    async def start(self) -> None:
        """Create the directory."""
        self.directory.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        """Nothing to release."""

    def _write(self, job: DeliveryJob) -> Path:
        name = job.key.replace(":", "_") + self.settings.suffix
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(job.payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        return final

    async def deliver(self, job: DeliveryJob) -> str:
        """Write the file (in a thread: fsync blocks)."""
        try:
            path = await asyncio.to_thread(self._write, job)
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write to {self.directory.name}/: "
                                         f"{exc.strerror}") from exc
        return f"written {path.name}"
