"""TTL, atomic updates, change listeners and migrations, runnable anywhere.

    uv run python examples/features.py

It uses MemoryBackend and a fake clock so it runs without a Flet app and never sleeps; in an
app, drop both arguments: FletStorage("my_app") talks to the page's SharedPreferences.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from flet_storage import FletStorage, MemoryBackend, StorageEvent


class Clock:
    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def main() -> list[str]:
    clock = Clock()
    storage = FletStorage("features_demo", backend=MemoryBackend(), clock=clock)
    log: list[str] = []

    # Change listeners: for one key, or (key=None) the whole namespace.
    def on_change(event: StorageEvent) -> None:
        log.append(f"{event.kind} {event.key}")

    subscription = storage.subscribe(on_change)

    # TTL: the token is gone an hour later, everywhere.
    await storage.set("session_token", "abc123", ttl=timedelta(hours=1))
    clock.now += 3600
    token = await storage.get_or_default("session_token", "expired")
    log.append(f"token after an hour: {token}")

    # Atomic read-modify-write, safe with concurrent tasks.
    await asyncio.gather(*(storage.increment("visits") for _ in range(10)))
    cart = await storage.update("cart", lambda items: [*items, "apple"], default=[])
    log.append(f"visits: {await storage.get('visits')}, cart: {cart}")

    # Migrations: each pending step once, in order; the version is stored.
    async def v2(s: FletStorage) -> None:
        await s.set("settings", {"ui": {"theme": "dark"}})

    version = await storage.migrate({2: v2})
    log.append(f"schema version: {version}, settings: {await storage.get('settings')}")

    subscription.cancel()
    await storage.clear()
    return log


if __name__ == "__main__":
    for line in asyncio.run(main()):
        print(line)
