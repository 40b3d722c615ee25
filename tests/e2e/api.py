"""The hub's admin API as the end-to-end tests read it (journal, parked deliveries)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.hubproc import HubProcess, await_until

Record = dict[str, Any]


class HubApi:
    """An authenticated client of one hub process's admin API."""

    def __init__(self, hub: HubProcess, timeout_s: float = 15.0) -> None:
        self.client = httpx.AsyncClient(base_url=hub.base_url, headers=hub.headers,
                                         timeout=timeout_s)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code < 300, (
            f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    async def by_control_id(self, control_id: str) -> list[Record]:
        """Journal summaries with MSH-10 ``control_id``, newest first."""
        page = await self._json("GET", "/api/messages",
                                params={"control_id": control_id, "limit": 100})
        items: list[Record] = page["items"]
        return items

    async def message(self, message_id: str) -> Record:
        """One message with its events and deliveries."""
        record: Record = await self._json("GET", f"/api/messages/{message_id}")
        return record

    async def raw(self, message_id: str) -> bytes:
        """The bytes the hub stored for a message."""
        response = await self.client.get(f"/api/messages/{message_id}/raw")
        assert response.status_code == 200, response.text[:500]
        return response.content

    async def every_message(self, page_size: int = 1000) -> list[Record]:
        """The whole journal, newest first, paging with ``before``."""
        found: list[Record] = []
        before: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if before:
                params["before"] = before
            page = await self._json("GET", "/api/messages", params=params)
            found.extend(page["items"])
            before = page["next"]
            if not before:
                return found

    async def wait_status(self, control_id: str, status: str, timeout_s: float = 20.0) -> Record:
        """The one accepted record of ``control_id`` once it has ``status``; its detail."""

        async def probe() -> Record | None:
            records = [r for r in await self.by_control_id(control_id)
                       if r["status"] != "rejected"]
            if len(records) == 1 and records[0]["status"] == status:
                return await self.message(records[0]["id"])
            return None

        record: Record = await await_until(probe, timeout_s,
                                           f"journal: {control_id} {status}")
        return record

    async def parked(self, destination: str) -> list[Record]:
        """Parked deliveries of ``destination``."""
        items: list[Record] = await self._json("GET", "/api/parked",
                                               params={"destination": destination})
        return items

    async def redrive(self, destination: str) -> int:
        """``POST /api/parked/redrive`` for one destination; how many were redriven."""
        answer = await self._json("POST", "/api/parked/redrive",
                                  json={"destination": destination})
        count: int = answer["redriven"]
        return count


def stages(record: Record, destination: str | None = None) -> list[str]:
    """The event stages of a message detail, optionally of one destination only."""
    return [e["stage"] for e in record["events"]
            if destination is None or e.get("destination") in (None, destination)]
