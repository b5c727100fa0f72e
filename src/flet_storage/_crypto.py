"""Authenticated encryption of stored text: AES-256-GCM, key ids and key rotation.

Stored form (version 1):

```text
fse1:<url-safe base64, unpadded, of: key id (4) || nonce (12) || ciphertext || tag (16)>
```

* The plaintext is the str encoded as UTF-8 with `surrogatepass`, so every str (lone
  surrogates and surrogate pairs included) comes back exactly.
* The key id is `SHA-256(KEY_ID_LABEL || key)[:4]`: decryption picks the key by id, with no
  trial decryption. It says nothing useful about a random 256-bit key.
* The nonce is 96 random bits from `os.urandom`, new for every encryption. With random
  nonces, one key should make at most `2**32` encryptions (every `set`, `update` and
  `increment` of every user counts), to keep the chance that two share a nonce under
  `2**-32` (NIST SP 800-38D): rotate keys long before.
* `context` is the GCM associated data: authenticated, not stored. A value decrypts only
  with the context it was encrypted with, so a record cannot be moved to another key or
  namespace, or given another expiry. The caller must encode the context unambiguously.
* [`bind`][flet_storage.Encryption.bind] puts `BIND_LABEL`, the length of the binding's
  UTF-8 bytes, `:` and those bytes in front of every context: a value encrypted for one
  user decrypts for no other and for no unbound Encryption. (FletStorage's contexts start
  with a digit, never with `BIND_LABEL`.)
* An Encryption cannot be pickled or copied: a pickle would hold the raw keys.
* The base64 must be canonical (no padding, no stray characters, zero unused bits), so that
  *any* change to the stored text is detected, not only changes the tag covers.

`cryptography` is an optional dependency (`pip install "flet-storage[crypto]"`). It is
imported only when an [Encryption][flet_storage.Encryption] is built or a key helper is
called, so that `import flet_storage` works without it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import unicodedata
from typing import TYPE_CHECKING, Final, NoReturn, SupportsIndex

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["PREFIX", "DecryptionError", "Encryption"]

PREFIX: Final = "fse1:"
"""Starts every value this version encrypts. Neither JSON nor the codec's texts start so."""

KEY_SIZE: Final = 32
KEY_ID_SIZE: Final = 4
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
KEY_ID_LABEL: Final = b"flet-storage encryption key id v1\x00"
BIND_LABEL: Final = b"bound:"
SCRYPT_N: Final = 2**17
"""Default scrypt cost of [`Encryption.derive_key`][flet_storage.Encryption.derive_key]
(with r=8, p=1: 128 MiB, ~0.5 s)."""

_HEADER: Final = KEY_ID_SIZE + NONCE_SIZE
_FORMAT = re.compile(r"fse[1-9][0-9]{0,3}:")  # this version's prefix and any later one's
_KEY_TEXT = re.compile(r"[A-Za-z0-9_-]{43}=?")
_INSTALL_HINT: Final = (
    'flet-storage encryption needs the "cryptography" package: pip install "flet-storage[crypto]"'
)
_UTF8, _PASS = "utf-8", "surrogatepass"

# Decryption errors: fixed texts, so that no message carries stored text, plaintext or key id.
_NOT_OURS = "the stored text is not a value encrypted by flet-storage"
_VERSION = "the stored text is encrypted in a format this version of flet-storage cannot read"
_MALFORMED = "the encrypted value is corrupt (not canonical url-safe base64)"
_TRUNCATED = "the encrypted value is truncated"
_UNKNOWN_KEY = "the value was encrypted with a key that is not configured"
_FAILED = "the encrypted value does not authenticate: wrong key, wrong context or tampered data"
_NOT_TEXT = "the decrypted value is not text encrypted by flet-storage"
_NO_COPIES = (
    "an Encryption cannot be pickled or copied: it holds the raw keys. Build one from the "
    "keys where it is needed, or share this one"
)


class DecryptionError(ValueError):
    """Stored text cannot be decrypted: not encrypted, corrupt, tampered with, encrypted
    with a key that is not configured, or with another context. The message never contains
    the stored text or the plaintext."""


class Encryption:
    """AES-256-GCM encryption of stored text with key rotation.

    Give it to [FletStorage][flet_storage.FletStorage] with `encryption=`: every value is
    then encrypted, bound to its namespace, key and expiry (see [Security](../security.md)).
    Needs the `[crypto]` extra: `pip install "flet-storage[crypto]"`.

    The first key encrypts; it and every old key decrypt. To rotate, put a new key first,
    run [`FletStorage.reencrypt`][flet_storage.FletStorage.reencrypt], then drop the old
    keys. One key should make at most `2**32` encryptions, counting every write of every user
    (see [Security](../security.md)).

    When one key serves many users (a web app's server key), bind each user's storage to
    the user: `FletStorage("app", encryption=encryption.bind(user_id))`, or a value of one
    user copied into another's browser storage decrypts there (see
    [`bind`][flet_storage.Encryption.bind]).

    An Encryption cannot be pickled or copied (`TypeError`): that would write out its keys.

    Args:
        key: The key that encrypts (and decrypts): a str from
            [`generate_key`][flet_storage.Encryption.generate_key] or
            [`derive_key`][flet_storage.Encryption.derive_key], or 32 raw bytes.
        *old_keys: Keys that only decrypt, in the same forms.
        accept_plaintext: Whether FletStorage should read values that are not encrypted
            (stored before encryption was enabled) as they are. Stored as
            [`accept_plaintext`][flet_storage.Encryption.accept_plaintext];
            [`decrypt`][flet_storage.Encryption.decrypt] itself always refuses them.
            **This switches integrity off for every value of the storage**: whoever can
            write the stored data (on web, the browser's user) can put any plain value under
            any key, with any expiry, and it is read as authentic;
            [`reencrypt`][flet_storage.FletStorage.reencrypt] then encrypts that forged
            value, which is from then on indistinguishable from a real one. Use it only for
            the one migration of data stored before encryption was turned on, run
            `reencrypt()` at once, and drop the flag.

    Raises:
        ImportError: `cryptography` is not installed.
        TypeError: A key is neither str nor bytes, or `accept_plaintext` is not a bool.
        ValueError: A key is not 32 bytes or not url-safe base64 of 32 bytes, or two keys
            are the same. Messages never contain key material.
    """

    __slots__ = (
        "_accept_plaintext",
        "_binding",
        "_ciphers",
        "_invalid_tag",
        "_primary",
        "_primary_id",
    )

    def __init__(
        self, key: str | bytes, *old_keys: str | bytes, accept_plaintext: bool = False
    ) -> None:
        aesgcm, invalid_tag = _load()
        if not isinstance(accept_plaintext, bool):
            raise TypeError(
                f"accept_plaintext must be a bool, not {type(accept_plaintext).__name__}"
            )
        ciphers: dict[bytes, AESGCM] = {}
        seen: set[bytes] = set()
        for position, candidate in enumerate((key, *old_keys)):
            label = "key" if position == 0 else f"old key #{position}"
            raw = _parse_key(candidate, label)
            if raw in seen:
                raise ValueError(f"{label} is the same as an earlier key")
            key_id = _key_id(raw)
            if key_id in ciphers:  # two different keys, one id: about 1 in 4 billion pairs
                raise ValueError(f"{label} has the key id of an earlier key; generate another")
            seen.add(raw)
            ciphers[key_id] = aesgcm(raw)
        self._primary_id = next(iter(ciphers))
        self._primary = ciphers[self._primary_id]
        self._ciphers = ciphers
        self._invalid_tag = invalid_tag
        self._accept_plaintext = accept_plaintext
        self._binding = b""

    @property
    def accept_plaintext(self) -> bool:
        """Whether values that are not encrypted may be read as they are (by the caller)."""
        return self._accept_plaintext

    def bind(self, context: str) -> Encryption:
        """The same keys, bound to `context`: values it encrypts decrypt only with it.

        One key usually serves every user of a web app, and the associated data of a value
        names its namespace, key and expiry, not its user: a value stored for user A (say
        `{"plan": "pro"}`) copied into user B's browser storage would decrypt for B. Bind
        each user's storage to something the server knows of the user, such as the id of
        the signed-in account:

        ```python
        encryption = Encryption(os.environ["FLET_STORAGE_KEY"])  # once, at start-up
        storage = FletStorage("my_app", encryption=encryption.bind(user_id))  # per user
        ```

        A value encrypted under one context is a `CorruptDataError` under any other and
        with no context, and a value encrypted with no context is one under every
        context. Rotation keeps the binding: bind `Encryption(new_key, old_key)` to the
        same context and [`reencrypt`][flet_storage.FletStorage.reencrypt]. Values stored
        before binding do not decrypt bound: move them once, with an unbound storage's
        `export(decrypted=True)` and the bound storage's `import_`.

        Args:
            context: Not empty; any str (compared exactly: not normalized).

        Returns:
            A new Encryption with the same keys and `accept_plaintext`, whose
            [`encrypt`][flet_storage.Encryption.encrypt] and
            [`decrypt`][flet_storage.Encryption.decrypt] put the binding in front of
            their `context`.

        Raises:
            TypeError: `context` is not a str.
            ValueError: `context` is empty, or this Encryption is bound already (bind the
                unbound one).
        """
        if not isinstance(context, str):
            raise TypeError(f"context must be a str, not {type(context).__name__}")
        if not context:
            raise ValueError("context must not be empty")
        if self._binding:
            raise ValueError("this Encryption is bound already: bind the unbound one")
        data = context.encode(_UTF8, _PASS)
        bound = object.__new__(Encryption)
        for name in self.__slots__:
            setattr(bound, name, getattr(self, name))
        bound._binding = BIND_LABEL + f"{len(data)}:".encode("ascii") + data
        return bound

    def __repr__(self) -> str:
        bound = ", bound" if self._binding else ""
        return (
            f"Encryption(<{len(self._ciphers)} key(s)>, "
            f"accept_plaintext={self._accept_plaintext}{bound})"
        )

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # pickle, copy.copy and copy.deepcopy all call it. With cryptography 42 a pickle
        # held the keys; with later releases it fails, but only by chance.
        raise TypeError(_NO_COPIES)

    @staticmethod
    def generate_key() -> str:
        """A new random key.

        Returns:
            32 bytes from `secrets.token_bytes` as unpadded url-safe base64 (43 chars).

        Raises:
            ImportError: `cryptography` is not installed (the key would be of no use).
        """
        _load()
        return _b64encode(secrets.token_bytes(KEY_SIZE))

    @staticmethod
    def derive_key(passphrase: str, salt: bytes | str, *, n: int = SCRYPT_N) -> str:
        """A key derived from a passphrase, for apps with no server to hold a key.

        Uses scrypt (r=8, p=1, n=2**17 by default, the OWASP minimum: 128 MiB, about half
        a second), which every supported `cryptography` release provides, so a passphrase
        gives the same key on every install (Argon2id is only in newer releases and
        builds). The passphrase is NFC-normalized first, so the same text typed on any OS
        gives the same key. The same passphrase, salt and `n` always give the same key.
        The work releases the GIL: in an async app, `await asyncio.to_thread(...)` it.

        Args:
            passphrase: The user's passphrase; not empty.
            salt: At least 16 bytes (a str is encoded as UTF-8), ideally random per
                installation (e.g. `secrets.token_bytes(16)`) and stored next to the
                data; it need not be secret.
            n: The scrypt cost, a power of two from 2**14 to 2**20. Changing it changes
                the key.

        Returns:
            A key for [Encryption][flet_storage.Encryption], as
            [`generate_key`][flet_storage.Encryption.generate_key] returns.

        Raises:
            ImportError: `cryptography` is not installed.
            TypeError: An argument has the wrong type.
            ValueError: The passphrase is empty, the salt is shorter than 16 bytes, or
                `n` is out of range.
        """
        _load()
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        if not isinstance(passphrase, str):
            raise TypeError(f"passphrase must be a str, not {type(passphrase).__name__}")
        if isinstance(salt, str):
            salt = salt.encode(_UTF8, _PASS)
        elif not isinstance(salt, bytes):
            raise TypeError(f"salt must be bytes or str, not {type(salt).__name__}")
        if type(n) is not int:
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if not passphrase:
            raise ValueError("passphrase must not be empty")
        if len(salt) < 16:
            raise ValueError(f"salt must be at least 16 bytes, not {len(salt)}")
        if not 2**14 <= n <= 2**20 or n & (n - 1):
            raise ValueError(f"n must be a power of two from 2**14 to 2**20, not {n}")
        secret = unicodedata.normalize("NFC", passphrase).encode(_UTF8, _PASS)
        return _b64encode(Scrypt(salt=salt, length=KEY_SIZE, n=n, r=8, p=1).derive(secret))

    def encrypt(self, plaintext: str, context: bytes) -> str:
        """Encrypts text with the newest key.

        Args:
            plaintext: Any str.
            context: Associated data, authenticated but not stored:
                [`decrypt`][flet_storage.Encryption.decrypt] needs the same bytes (and the
                same [`bind`][flet_storage.Encryption.bind]ing, put in front of them).

        Returns:
            `PREFIX` followed by url-safe base64; a new random nonce every call.

        Raises:
            TypeError: `plaintext` is not a str or `context` is not bytes.
        """
        if not isinstance(plaintext, str):
            raise TypeError(f"plaintext must be a str, not {type(plaintext).__name__}")
        if not isinstance(context, bytes):
            raise TypeError(f"context must be bytes, not {type(context).__name__}")
        nonce = _new_nonce()
        sealed = self._primary.encrypt(
            nonce, plaintext.encode(_UTF8, _PASS), self._binding + context
        )
        return PREFIX + _b64encode(self._primary_id + nonce + sealed)

    def decrypt(self, stored: str, context: bytes) -> str:
        """Decrypts text [`encrypt`][flet_storage.Encryption.encrypt] returned, with whichever
        configured key made it.

        Args:
            stored: The stored text.
            context: The associated data it was encrypted with (by an Encryption of the
                same binding).

        Returns:
            The plaintext, exactly.

        Raises:
            ValueError: (`DecryptionError`) `stored` is not in this format, is corrupt, truncated or
                tampered with, was encrypted with a key that is not configured, or with
                another context or binding.
            TypeError: `stored` is not a str or `context` is not bytes.
        """
        if not isinstance(context, bytes):
            raise TypeError(f"context must be bytes, not {type(context).__name__}")
        blob = self._parse(stored)
        cipher = self._ciphers.get(blob[:KEY_ID_SIZE])
        if cipher is None:
            raise DecryptionError(_UNKNOWN_KEY)
        # Errors are raised outside the except clauses: no chained exception (whose
        # arguments could hold data) is attached to a DecryptionError.
        data: bytes | None
        try:
            data = cipher.decrypt(
                blob[KEY_ID_SIZE:_HEADER], blob[_HEADER:], self._binding + context
            )
        except self._invalid_tag:
            data = None
        if data is None:
            raise DecryptionError(_FAILED)
        text: str | None
        try:
            text = data.decode(_UTF8, _PASS)
        except UnicodeDecodeError:
            text = None
        if text is None:
            raise DecryptionError(_NOT_TEXT)
        return text

    @staticmethod
    def is_encrypted(stored: str) -> bool:
        """Whether text has the prefix of an encrypted value (of this or a later version).

        A prefix check only: the value may still fail to decrypt.

        Args:
            stored: The stored text.

        Returns:
            `True` if `stored` starts like an encrypted value.

        Raises:
            TypeError: `stored` is not a str.
        """
        if not isinstance(stored, str):
            raise TypeError(f"stored must be a str, not {type(stored).__name__}")
        return _FORMAT.match(stored) is not None

    def needs_reencrypt(self, stored: str) -> bool:
        """Whether text is not a value encrypted with the newest key.

        It reads the key id without authenticating the value;
        [`decrypt`][flet_storage.Encryption.decrypt] does that.

        Args:
            stored: The stored text.

        Returns:
            `True` for plaintext, for values encrypted with an old key and for text that is
            not well-formed.

        Raises:
            TypeError: `stored` is not a str.
        """
        try:
            blob = self._parse(stored)
        except DecryptionError:
            return True
        return blob[:KEY_ID_SIZE] != self._primary_id

    @staticmethod
    def _parse(stored: str) -> bytes:
        """The decoded blob of well-formed stored text, long enough to hold a tag."""
        if not isinstance(stored, str):
            raise TypeError(f"stored must be a str, not {type(stored).__name__}")
        if not stored.startswith(PREFIX):
            raise DecryptionError(_VERSION if _FORMAT.match(stored) else _NOT_OURS)
        body = stored[len(PREFIX) :]
        blob: bytes | None
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:  # binascii.Error, or non-ASCII text
            blob = None
        if blob is None or _b64encode(blob) != body:
            raise DecryptionError(_MALFORMED)
        if len(blob) < _HEADER + TAG_SIZE:
            raise DecryptionError(_TRUNCATED)
        return blob


def _load() -> tuple[type[AESGCM], type[Exception]]:
    """AESGCM and InvalidTag, or an ImportError that says how to install them."""
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as error:
        raise ImportError(_INSTALL_HINT, name="cryptography") from error
    return AESGCM, InvalidTag


def _new_nonce() -> bytes:
    return os.urandom(NONCE_SIZE)


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(KEY_ID_LABEL + key).digest()[:KEY_ID_SIZE]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _parse_key(key: object, label: str) -> bytes:
    """The 32 bytes of a key; errors name the key by `label`, never by its value."""
    if isinstance(key, bytes):
        if len(key) != KEY_SIZE:
            raise ValueError(
                f"{label} must be {KEY_SIZE} raw bytes, not {len(key)} "
                "(pass a str for a base64 key)"
            )
        return key
    if not isinstance(key, str):
        raise TypeError(f"{label} must be a str or bytes, not {type(key).__name__}")
    body = key[:-1] if key.endswith("=") else key
    raw = base64.urlsafe_b64decode(body + "=") if _KEY_TEXT.fullmatch(key) else b""
    if len(raw) != KEY_SIZE or _b64encode(raw) != body:  # also refuses nonzero unused bits
        raise ValueError(
            f"{label} must be url-safe base64 of {KEY_SIZE} bytes, as "
            "Encryption.generate_key() returns"
        )
    return raw
