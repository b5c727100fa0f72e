"""flet-storage: namespaced, type-faithful async storage for Flet apps.

```python
from flet_storage import FletStorage

storage = FletStorage(app_name="my_app")  # inside a running Flet app
await storage.set("tags", {"python", "flet"})
await storage.get("tags")  # {'python', 'flet'}: a set again
```
"""

from ._codec import Codec
from ._crypto import Encryption
from ._errors import (
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
from ._events import StorageEvent, Subscription
from ._record import KeyInfo
from ._storage import FletStorage
from .backends import (
    Backend,
    FileBackend,
    MemoryBackend,
    SecureStorageBackend,
    SharedPreferencesBackend,
)
from .inspector import StorageInspector

__version__ = "2.0.0.dev0"
"""The version of flet-storage installed."""

__all__ = [
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
