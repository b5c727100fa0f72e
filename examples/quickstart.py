"""The usage example flet-storage users learned from, unchanged but for the __main__ guard."""

import flet as ft

from flet_storage import FletStorage


async def main(page: ft.Page):  # type: ignore[no-untyped-def]
    # Initialize storage with an app namespace to avoid key collisions
    storage = FletStorage(app_name="my_awesome_app")

    # Writing data (automatically serializes dicts, lists, sets, etc.)
    await storage.set("user_settings", {"theme": "dark", "notifications": True})
    await storage.set("login_attempts", 3)

    # Working with Python sets (automatically preserved!)
    await storage.set("favorite_tags", {"python", "flet", "async"})
    tags = await storage.get("favorite_tags")  # Returns a set, not a list

    # Reading data
    settings = await storage.get("user_settings")  # A standard Python dict
    attempts = await storage.get_or_default("login_attempts", 0)  # noqa: F841

    # Checking for keys
    if await storage.contains_key("user_settings"):
        print("Settings found!")

    # Deleting a specific key
    await storage.remove("login_attempts")

    # Clearing all data associated with THIS app_name namespace
    await storage.clear()

    page.add(ft.Text(f"Settings loaded: {settings}"))
    page.add(ft.Text(f"Tags loaded (type: {type(tags).__name__}): {tags}"))


if __name__ == "__main__":
    ft.run(main)
