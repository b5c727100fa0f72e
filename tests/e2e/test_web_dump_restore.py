"""The Backups guide's snippet that restores a localStorage dump (docs/guides/tools.md,
"Restoring a web dump"), run as written in a real tab, then read back through FletStorage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import flet as ft

from flet_storage import Codec, FletStorage

from .harness import Client

GUIDE = Path(__file__).parents[2] / "docs" / "guides" / "tools.md"
RELOAD = "location.reload(); // the app reads localStorage again"


def _snippet() -> str:
    """The guide's JavaScript block of the section."""
    section = GUIDE.read_text().split("## Restoring a web dump", 1)[1]
    blocks: list[str] = re.findall(r"^```javascript\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
    (block,) = blocks
    return block


async def test_the_guides_snippet_restores_a_dump_into_local_storage(
    client: Client, app_name: str
) -> None:
    storage = FletStorage(app_name)
    other = FletStorage(f"{app_name}_other")
    prefix = f"flutter.{app_name}."

    async def seed(page: ft.Page) -> None:
        await storage.set("theme", "dark")
        await storage.set("tags", {"a", "b"})
        await storage.set("session", {"user": "ada"}, ttl=3600)

    await client.run(seed)
    # saved as the guide says, then edited offline: one value changed, one key removed
    dump = json.loads(await client.evaluate("() => JSON.stringify(localStorage)"))
    dump[f"{prefix}theme"] = json.dumps(Codec().encode("light"))
    del dump[f"{prefix}tags"]

    async def meanwhile(page: ft.Page) -> None:
        await storage.set("later", 1)  # not in the dump: the restore removes it
        await other.set("kept", True)  # another namespace: left alone

    await client.run(meanwhile)

    snippet = _snippet()
    assert snippet.count("const dump = {};") == 1
    assert snippet.count('"flutter.my_app."') == 1
    assert snippet.rstrip().endswith(RELOAD)
    snippet = snippet.replace("const dump = {};", f"const dump = {json.dumps(dump)};")
    snippet = snippet.replace('"flutter.my_app."', json.dumps(prefix))
    # All but the reload runs in the tab; the harness reloads it, waiting for the app.
    await client.evaluate(f"() => {{ {snippet.rstrip().removesuffix(RELOAD)} }}")
    await client.reload()

    async def read(page: ft.Page) -> tuple[list[str], object, object, object]:
        return (
            sorted(await storage.get_keys()),
            await storage.get("theme"),
            await storage.get("session"),
            await other.get("kept"),
        )

    assert await client.run(read) == (["session", "theme"], "light", {"user": "ada"}, True)
