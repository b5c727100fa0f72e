"""The public names are a contract: adding or removing one is a deliberate change."""

from __future__ import annotations

import flet_storage


def test_all_is_pinned_and_sorted() -> None:
    assert flet_storage.__all__ == [
        "Backend",
        "BackendError",
        "Codec",
        "CorruptDataError",
        "Encryption",
        "FileBackend",
        "FletStorage",
        "KeyInfo",
        "KeyNotFoundError",
        "MemoryBackend",
        "MigrationError",
        "NoPageError",
        "SecureStorageBackend",
        "SharedPreferencesBackend",
        "StorageError",
        "StorageEvent",
        "StorageFullError",
        "StorageInspector",
        "StorageTimeoutError",
        "Subscription",
        "UnsupportedValueError",
        "__version__",
    ]
    assert flet_storage.__all__ == sorted(flet_storage.__all__)


def test_every_public_name_exists() -> None:
    for name in flet_storage.__all__:
        assert hasattr(flet_storage, name), name


def test_errors_are_storage_errors_and_builtins() -> None:
    from flet_storage import (
        BackendError,
        CorruptDataError,
        KeyNotFoundError,
        MigrationError,
        NoPageError,
        StorageError,
        StorageFullError,
        StorageTimeoutError,
        UnsupportedValueError,
    )

    expected: dict[type[Exception], type[Exception]] = {
        KeyNotFoundError: KeyError,
        CorruptDataError: ValueError,
        UnsupportedValueError: TypeError,
        StorageTimeoutError: TimeoutError,
        NoPageError: RuntimeError,
        MigrationError: RuntimeError,
        BackendError: RuntimeError,
        StorageFullError: BackendError,
    }
    for error, builtin in expected.items():
        assert issubclass(error, StorageError), error
        assert issubclass(error, builtin), error


def test_shared_preferences_is_a_valid_backend() -> None:
    import flet as ft

    from flet_storage import Backend

    assert isinstance(ft.SharedPreferences(), Backend)
