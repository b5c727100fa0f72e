"""Encryption: known answers, round trips, tamper detection, key rotation and validation."""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import pickle
import subprocess
import sys
import unicodedata
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

import flet_storage
from flet_storage import Encryption, _crypto
from flet_storage._crypto import PREFIX, DecryptionError

ZERO_KEY = bytes(32)
KEY = bytes(range(32))
NONCE = bytes(range(100, 112))
CONTEXT = b"\x05app.a\x05token\x0a1700000000"
SECRET = "secret-plaintext-Grüße-\ud83d\ude00-\udc00"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
INSTALL = 'pip install "flet-storage[crypto]"'


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(key: bytes) -> bytes:
    """Written out independently of the module: SHA-256 over a fixed label and the key."""
    return hashlib.sha256(b"flet-storage encryption key id v1\x00" + key).digest()[:4]


@pytest.fixture
def fixed_nonce(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every encryption uses the next of these nonces (zeros once they run out)."""
    nonces: list[bytes] = []
    monkeypatch.setattr(_crypto, "_new_nonce", lambda: nonces.pop(0) if nonces else bytes(12))
    return nonces


@pytest.fixture
def enc() -> Encryption:
    return Encryption(Encryption.generate_key())


def stored_blob(stored: str) -> bytes:
    assert stored.startswith(PREFIX)
    return unb64(stored[len(PREFIX) :])


def restore(blob: bytes) -> str:
    return PREFIX + b64(blob)


# --- known answers ------------------------------------------------------------------------


@pytest.mark.usefixtures("fixed_nonce")
@pytest.mark.parametrize(
    ("plaintext", "sealed_hex", "stored"),
    [
        # The GCM specification's test cases 13 and 14 (McGrew and Viega): AES-256, zero key,
        # zero 96-bit IV, no associated data; plaintext empty and 16 zero bytes.
        (
            "",
            "530f8afbc74536b9a963b4f1c4cb738b",
            "fse1:7VYm-wAAAAAAAAAAAAAAAFMPivvHRTa5qWO08cTLc4s",
        ),
        (
            "\x00" * 16,
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919",
            "fse1:7VYm-wAAAAAAAAAAAAAAAM6nQD1NYGtuB07F07rznRjQ0cinmZlr8CZbmLXUirkZ",
        ),
    ],
)
def test_gcm_specification_vectors(plaintext: str, sealed_hex: str, stored: str) -> None:
    enc = Encryption(ZERO_KEY)
    assert enc.encrypt(plaintext, b"") == stored
    assert stored_blob(stored) == key_id(ZERO_KEY) + bytes(12) + bytes.fromhex(sealed_hex)
    assert key_id(ZERO_KEY).hex() == "ed5626fb"
    assert enc.decrypt(stored, b"") == plaintext


def test_known_answer_with_context_and_any_text(fixed_nonce: list[bytes]) -> None:
    fixed_nonce.append(NONCE)
    stored = Encryption(KEY).encrypt(SECRET, CONTEXT)
    assert stored == (
        "fse1:9HUYtGRlZmdoaWprbG1ubzt-vRQcnXvuUgM2hq4AEolvhXTJN69sF4o8DPUWGyVleVnAFMwqN5u53nHy"
        "Kgy93DFGHQ"
    )
    # The same bytes from cryptography's AESGCM directly, and the key id from hashlib.
    plain_bytes = SECRET.encode("utf-8", "surrogatepass")
    sealed = AESGCM(KEY).encrypt(NONCE, plain_bytes, CONTEXT)
    assert stored == PREFIX + b64(key_id(KEY) + NONCE + sealed)
    assert AESGCM(KEY).decrypt(NONCE, stored_blob(stored)[16:], CONTEXT) == plain_bytes
    assert Encryption(KEY).decrypt(stored, CONTEXT) == SECRET


def test_nonce_is_fresh_randomness_from_os_urandom(monkeypatch: pytest.MonkeyPatch) -> None:
    enc = Encryption(KEY)
    calls: list[int] = []

    def urandom(size: int) -> bytes:
        calls.append(size)
        return b"\x07" * size

    first = enc.encrypt("same", b"ctx")
    assert first != enc.encrypt("same", b"ctx")
    monkeypatch.setattr(os, "urandom", urandom)
    assert stored_blob(enc.encrypt("same", b"ctx"))[4:16] == b"\x07" * 12
    assert calls == [12]


def test_stored_form(enc: Encryption) -> None:
    stored = enc.encrypt("x" * 100, b"")
    body = stored[len(PREFIX) :]
    assert stored.startswith("fse1:")
    assert set(body) <= set(ALPHABET)  # url-safe base64, unpadded
    assert len(stored_blob(stored)) == 4 + 12 + 100 + 16


# --- round trips --------------------------------------------------------------------------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
ANY_CHAR = st.characters(exclude_categories=())
texts = st.text(ANY_CHAR) | st.lists(
    SURROGATES | ANY_CHAR | st.sampled_from(["\ud83d", "\ude00", "\U0001f600", "\x00"])
).map("".join)


@settings(max_examples=300)
@given(plaintext=texts, context=st.binary())
def test_round_trip_of_any_text(plaintext: str, context: bytes) -> None:
    enc = Encryption(KEY, ZERO_KEY)
    stored = enc.encrypt(plaintext, context)
    assert enc.is_encrypted(stored)
    assert not enc.needs_reencrypt(stored)
    assert enc.decrypt(stored, context) == plaintext


@pytest.mark.parametrize(
    "plaintext",
    # Built with chr(): ruff's duplicate check confuses strings of lone surrogates.
    ["", "\U0001f600", *(chr(0xD83D) + chr(low) for low in (0xDE00, 0xD800)), chr(0xDC00), "{}"],
)
def test_surrogates_come_back_exactly(enc: Encryption, plaintext: str) -> None:
    back = enc.decrypt(enc.encrypt(plaintext, b"c"), b"c")
    assert back == plaintext
    assert [ord(c) for c in back] == [ord(c) for c in plaintext]


def test_large_value(enc: Encryption) -> None:
    plaintext = "€" * 1_000_000
    assert enc.decrypt(enc.encrypt(plaintext, b""), b"") == plaintext


# --- failures -----------------------------------------------------------------------------


def assert_refused(enc: Encryption, stored: str, context: bytes, plaintext: str = SECRET) -> None:
    """Decryption fails with a DecryptionError that carries no data."""
    with pytest.raises(DecryptionError) as caught:
        enc.decrypt(stored, context)
    error = caught.value
    message = str(error)
    for secret in [plaintext, stored, stored[len(PREFIX) :]]:  # no 6 characters in a row
        assert all(secret[i : i + 6] not in message for i in range(len(secret) - 5))
    assert not {arg for arg in error.args if not isinstance(arg, str)}
    assert error.__cause__ is None
    assert error.__context__ is None  # no chained exception holding bytes of the value


def test_every_flipped_bit_of_the_blob_is_detected(enc: Encryption) -> None:
    stored = enc.encrypt(SECRET, CONTEXT)
    blob = stored_blob(stored)
    for position in range(len(blob)):
        for bit in range(8):
            tampered = bytearray(blob)
            tampered[position] ^= 1 << bit
            assert_refused(enc, restore(bytes(tampered)), CONTEXT)


def test_every_changed_character_of_the_stored_text_is_detected() -> None:
    enc = Encryption(KEY)
    for plaintext in ["secret", "secret!", "secret!!"]:  # blob lengths of every residue mod 3
        stored = enc.encrypt(plaintext, CONTEXT)
        for position, char in enumerate(stored):
            for other in ALPHABET + "+/=:.! \n\x00é\ud800":
                if other != char:
                    changed = stored[:position] + other + stored[position + 1 :]
                    assert_refused(enc, changed, CONTEXT, plaintext)
            assert_refused(enc, stored[:position] + stored[position + 1 :], CONTEXT, plaintext)
        for extra in ["A", "=", "==", "\n", " "]:
            assert_refused(enc, stored + extra, CONTEXT, plaintext)


def test_truncation_at_every_length_is_detected(enc: Encryption) -> None:
    stored = enc.encrypt(SECRET, CONTEXT)
    for length in range(len(stored)):
        assert_refused(enc, stored[:length], CONTEXT)
    blob = stored_blob(stored)
    for length in range(len(blob)):
        assert_refused(enc, restore(blob[:length]), CONTEXT)


def test_wrong_context_is_detected(enc: Encryption) -> None:
    stored = enc.encrypt(SECRET, CONTEXT)
    for context in [b"", CONTEXT[:-1], CONTEXT + b"\x00", CONTEXT.replace(b"token", b"tokem")]:
        assert_refused(enc, stored, context)
    assert_refused(enc, enc.encrypt(SECRET, b""), b"\x00")


def test_wrong_key_is_detected() -> None:
    stored = Encryption(KEY).encrypt(SECRET, CONTEXT)
    assert_refused(Encryption(ZERO_KEY), stored, CONTEXT)
    assert_refused(Encryption(Encryption.generate_key(), ZERO_KEY), stored, CONTEXT)


def test_key_id_of_another_configured_key_is_detected() -> None:
    """Relabeling a value with the id of another configured key fails authentication."""
    enc = Encryption(KEY, ZERO_KEY)
    blob = stored_blob(enc.encrypt(SECRET, CONTEXT))
    assert_refused(enc, restore(key_id(ZERO_KEY) + blob[4:]), CONTEXT)


def test_authentic_data_that_is_not_text_is_refused() -> None:
    sealed = AESGCM(KEY).encrypt(NONCE, b"\xff\xfe", CONTEXT)
    assert_refused(Encryption(KEY), restore(key_id(KEY) + NONCE + sealed), CONTEXT)


@pytest.mark.parametrize(
    "stored",
    ["", "fs2:[1]", "fst:1.5:fs2:[1]", '{"a": 1}', "false", "fse1", "fse1:", "fse2:AAAA", "FSE1:x"],
)
def test_text_that_is_not_ours_is_refused(enc: Encryption, stored: str) -> None:
    assert_refused(enc, stored, b"")


def test_failure_messages_are_distinct_and_fixed(enc: Encryption) -> None:
    stored = enc.encrypt(SECRET, CONTEXT)
    messages = set()
    for bad, context in [
        ("plain", CONTEXT),
        ("fse9:AAAA", CONTEXT),
        (stored + "!", CONTEXT),
        (restore(stored_blob(stored)[:31]), CONTEXT),
        (Encryption(KEY).encrypt(SECRET, CONTEXT), CONTEXT),
        (stored, b""),
    ]:
        with pytest.raises(DecryptionError) as caught:
            enc.decrypt(bad, context)
        messages.add(str(caught.value))
    assert len(messages) == 6
    assert all(key_id(KEY).hex() not in message for message in messages)


def test_argument_types(enc: Encryption) -> None:
    stored = enc.encrypt("x", b"")
    with pytest.raises(TypeError, match="plaintext must be a str"):
        enc.encrypt(b"x", b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context must be bytes"):
        enc.encrypt("x", "ctx")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context must be bytes"):
        enc.decrypt(stored, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="stored must be a str"):
        enc.decrypt(stored.encode(), b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="stored must be a str"):
        enc.is_encrypted(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="stored must be a str"):
        enc.needs_reencrypt(stored.encode())  # type: ignore[arg-type]
    assert issubclass(DecryptionError, ValueError)


# --- prefix, rotation, attributes ---------------------------------------------------------


def test_is_encrypted_is_a_prefix_check(enc: Encryption) -> None:
    assert Encryption.is_encrypted(enc.encrypt("", b""))
    assert enc.is_encrypted("fse1:not even base64!")
    assert enc.is_encrypted("fse2:a later format")  # encrypted, though not readable here
    for text in ["", "fse", "fse:", "fse0:", "fse1", "FSE1:", " fse1:", "fs2:[1]", "false"]:
        assert not enc.is_encrypted(text), text
    assert not enc.is_encrypted("fst:1.5:fse1:AAAA")


def test_rotation() -> None:
    old_key, new_key = Encryption.generate_key(), Encryption.generate_key()
    old = Encryption(old_key)
    stored_old = old.encrypt(SECRET, CONTEXT)
    assert not old.needs_reencrypt(stored_old)

    rotated = Encryption(new_key, old_key)
    assert rotated.decrypt(stored_old, CONTEXT) == SECRET
    assert rotated.needs_reencrypt(stored_old)
    stored_new = rotated.encrypt(SECRET, CONTEXT)
    assert not rotated.needs_reencrypt(stored_new)
    assert stored_blob(stored_new)[:4] == key_id(unb64(new_key))
    assert rotated.decrypt(stored_new, CONTEXT) == SECRET
    assert_refused(old, stored_new, CONTEXT)

    retired = Encryption(new_key)  # the old key dropped once everything is re-encrypted
    assert retired.decrypt(stored_new, CONTEXT) == SECRET
    assert_refused(retired, stored_old, CONTEXT)


def test_needs_reencrypt_of_anything_else(enc: Encryption) -> None:
    assert enc.needs_reencrypt("plain")
    assert enc.needs_reencrypt("fs2:[1]")
    assert enc.needs_reencrypt("fse1:!!")
    assert enc.needs_reencrypt("fse2:AAAA")
    assert enc.needs_reencrypt(Encryption(KEY).encrypt("x", b""))


def test_accept_plaintext_is_kept_and_read_only() -> None:
    assert Encryption(KEY).accept_plaintext is False
    enc = Encryption(KEY, accept_plaintext=True)
    assert enc.accept_plaintext is True
    with pytest.raises(AttributeError):
        enc.accept_plaintext = False  # type: ignore[misc]
    with pytest.raises(TypeError, match="accept_plaintext must be a bool"):
        Encryption(KEY, accept_plaintext=1)  # type: ignore[arg-type]
    assert_refused(enc, "plain", b"")  # decrypt() itself never passes plaintext through


def test_repr_shows_no_key() -> None:
    key = Encryption.generate_key()
    text = repr(Encryption(key, KEY, accept_plaintext=True))
    assert text == "Encryption(<2 key(s)>, accept_plaintext=True)"
    assert key not in text
    bound = repr(Encryption(key).bind("user-4711"))
    assert bound == "Encryption(<1 key(s)>, accept_plaintext=False, bound)"


# --- binding ------------------------------------------------------------------------------


def test_bind_puts_a_length_prefixed_context_in_front_of_the_associated_data(
    fixed_nonce: list[bytes],
) -> None:
    fixed_nonce.append(NONCE)
    user = "Zoë\ud800"
    stored = Encryption(KEY).bind(user).encrypt(SECRET, CONTEXT)
    binding = b"bound:" + b"7:" + "Zoë\ud800".encode("utf-8", "surrogatepass")  # 1+1+2+3
    sealed = AESGCM(KEY).encrypt(NONCE, SECRET.encode("utf-8", "surrogatepass"), binding + CONTEXT)
    assert stored == PREFIX + b64(key_id(KEY) + NONCE + sealed)


def test_a_value_decrypts_only_under_its_own_binding() -> None:
    enc = Encryption(KEY)
    contexts: list[str | None] = [None, "alice", "bob", "Alice", "alice ", "6:alice", "bound:"]
    variants = [enc if c is None else enc.bind(c) for c in contexts]
    for i, writer in enumerate(variants):
        stored = writer.encrypt(SECRET, CONTEXT)
        for j, reader in enumerate(variants):
            if i == j:
                assert reader.decrypt(stored, CONTEXT) == SECRET
            else:
                assert_refused(reader, stored, CONTEXT)
    # The length prefix keeps binding and context apart, however the bytes are split.
    stored = enc.bind("ab").encrypt(SECRET, b"1:c")
    assert_refused(enc.bind("a"), stored, b"b1:c")
    assert_refused(enc.bind("abc"), stored, b":c")
    # It is a prefix of the associated data: the caller of the unbound encrypt() and
    # decrypt() keeps its contexts apart from bound ones (FletStorage's start with a digit).
    assert enc.decrypt(stored, b"bound:2:ab1:c") == SECRET


def test_bind_keeps_the_keys_and_the_flag_and_leaves_the_original_unbound() -> None:
    old_key, new_key = Encryption.generate_key(), Encryption.generate_key()
    rotated = Encryption(new_key, old_key, accept_plaintext=True)
    bound = rotated.bind("alice")
    assert bound.accept_plaintext is True
    stored_old = Encryption(old_key).bind("alice").encrypt(SECRET, CONTEXT)
    assert bound.decrypt(stored_old, CONTEXT) == SECRET
    assert bound.needs_reencrypt(stored_old)
    assert not bound.needs_reencrypt(bound.encrypt(SECRET, CONTEXT))
    assert rotated.decrypt(rotated.encrypt(SECRET, CONTEXT), CONTEXT) == SECRET  # unchanged
    assert_refused(rotated, stored_old, CONTEXT)


def test_bind_validation() -> None:
    enc = Encryption(KEY)
    with pytest.raises(TypeError, match="context must be a str, not bytes"):
        enc.bind(b"alice")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="context must not be empty"):
        enc.bind("")
    with pytest.raises(ValueError, match="bound already"):
        enc.bind("alice").bind("bob")


# --- no copies of the keys ----------------------------------------------------------------


class PicklableAESGCM:
    """AESGCM as cryptography 42 had it: a Python object holding its key, so picklable."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._real = AESGCM(key)

    def __getstate__(self) -> dict[str, bytes]:
        return {"_key": self._key}

    def __setstate__(self, state: dict[str, bytes]) -> None:
        self.__init__(state["_key"])  # type: ignore[misc]

    def encrypt(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        return self._real.encrypt(nonce, data, associated)


@pytest.mark.parametrize("aesgcm", ["installed", "cryptography 42"])
@pytest.mark.parametrize(
    "copier", [pickle.dumps, copy.copy, copy.deepcopy], ids=["pickle", "copy", "deepcopy"]
)
def test_an_encryption_is_never_pickled_or_copied(
    monkeypatch: pytest.MonkeyPatch, aesgcm: str, copier: Callable[[object], object]
) -> None:
    if aesgcm != "installed":
        invalid_tag = _crypto._load()[1]
        monkeypatch.setattr(_crypto, "_load", lambda: (PicklableAESGCM, invalid_tag))
    secret_key = os.urandom(32)
    for enc in (Encryption(secret_key, KEY), Encryption(KEY, secret_key).bind("alice")):
        with pytest.raises(TypeError, match="an Encryption cannot be pickled or copied") as info:
            copier(enc)
        assert info.value.__context__ is None
        assert info.value.__cause__ is None
        for text in (str(info.value), repr(info.value)):
            assert secret_key.hex() not in text
            assert b64(secret_key) not in text
    if aesgcm != "installed":  # the stand-in does leak, as 42 did
        assert secret_key in pickle.dumps(Encryption(secret_key)._primary)


def test_public_names() -> None:
    assert flet_storage.Encryption is Encryption
    assert "Encryption" in flet_storage.__all__


# --- keys ---------------------------------------------------------------------------------


def test_generate_key() -> None:
    keys = {Encryption.generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert len(key) == 43
        assert set(key) <= set(ALPHABET)
        assert len(unb64(key)) == 32
        assert b64(unb64(key)) == key
        Encryption(key)


def test_key_forms_are_equivalent(fixed_nonce: list[bytes]) -> None:
    text = b64(KEY)
    forms: list[str | bytes] = [KEY, text, text + "="]
    stored = {Encryption(form).encrypt("x", b"") for form in forms}
    assert len(stored) == 1


VALID = b64(KEY)


@pytest.mark.parametrize(
    "key",
    [
        VALID[:-1],  # 42 characters
        VALID + "A",  # 44 characters, no padding
        VALID + "==",
        "=" + VALID,
        VALID[:-1] + "B",  # nonzero unused bits: not the canonical text of any key
        VALID[:10] + "+" + VALID[11:],  # standard, not url-safe, base64
        VALID[:10] + "/" + VALID[11:],
        VALID[:10] + "!" + VALID[11:],
        VALID[:10] + "é" + VALID[11:],
        VALID + "\n",
        " " + VALID,
        "",
        b64(bytes(16)),
        b64(bytes(64)),
        bytes(31),
        bytes(33),
        b"",
        VALID.encode(),  # base64 text passed as bytes
    ],
)
def test_malformed_keys_are_value_errors(key: str | bytes) -> None:
    for args in [(key,), (KEY, key)]:
        with pytest.raises(ValueError, match="key") as caught:
            Encryption(*args)
        message = str(caught.value)
        if len(key) > 3:
            assert str(key) not in message
            assert (key.decode() if isinstance(key, bytes) else key)[:8] not in message
    with pytest.raises(ValueError, match="old key #2"):
        Encryption(KEY, ZERO_KEY, key)


@pytest.mark.parametrize("key", [None, 32, 1.5, ["x"], bytearray(KEY), memoryview(KEY), object()])
def test_keys_of_other_types_are_type_errors(key: object) -> None:
    with pytest.raises(TypeError, match="key must be a str or bytes"):
        Encryption(key)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="old key #1 must be a str or bytes"):
        Encryption(KEY, key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second"),
    [(KEY, KEY), (VALID, VALID), (KEY, VALID), (VALID + "=", VALID), (KEY, VALID + "=")],
)
def test_duplicate_keys_are_refused(first: str | bytes, second: str | bytes) -> None:
    with pytest.raises(ValueError, match="old key #1 is the same as an earlier key"):
        Encryption(first, second)
    with pytest.raises(ValueError, match="old key #2 is the same"):
        Encryption(first, ZERO_KEY, second)


def test_colliding_key_ids_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_crypto, "_key_id", lambda key: b"same")
    with pytest.raises(ValueError, match="old key #1 has the key id of an earlier key"):
        Encryption(KEY, ZERO_KEY)


# --- derive_key ---------------------------------------------------------------------------

FAST = 2**14  # the smallest cost allowed, to keep the tests quick


def test_derive_key_is_scrypt_of_the_nfc_passphrase() -> None:
    salt = b"0123456789abcdef"
    key = Encryption.derive_key("pässword", salt, n=FAST)
    expected = hashlib.scrypt(
        unicodedata.normalize("NFC", "pässword").encode(), salt=salt, n=FAST, r=8, p=1, dklen=32
    )
    assert key == b64(expected)
    assert Encryption.derive_key("pässword", salt, n=FAST) == key  # deterministic
    assert Encryption.derive_key("pa\u0308ssword", salt, n=FAST) == key  # NFD typed: same key
    assert Encryption.derive_key("pässword", salt.decode(), n=FAST) == key  # str salt: UTF-8
    assert Encryption.derive_key("passwörd", salt, n=FAST) != key
    assert Encryption.derive_key("pässword", salt + b"!", n=FAST) != key
    assert Encryption.derive_key("pässword", salt, n=2 * FAST) != key
    enc = Encryption(key)
    assert enc.decrypt(enc.encrypt("x", b""), b"") == "x"


def test_derive_key_default_cost() -> None:
    salt = bytes(range(16))
    expected = hashlib.scrypt(
        b"correct horse", salt=salt, n=2**17, r=8, p=1, dklen=32, maxmem=256 * 2**20
    )
    assert Encryption.derive_key("correct horse", salt) == b64(expected)


@pytest.mark.parametrize(
    ("passphrase", "salt", "n", "error", "match"),
    [
        ("", bytes(16), FAST, ValueError, "passphrase must not be empty"),
        ("pw", bytes(15), FAST, ValueError, "salt must be at least 16 bytes, not 15"),
        ("pw", "x" * 15, FAST, ValueError, "salt must be at least 16 bytes"),
        ("pw", b"", FAST, ValueError, "salt must be at least 16 bytes, not 0"),
        ("pw", bytes(16), 2**13, ValueError, "n must be a power of two"),
        ("pw", bytes(16), 2**21, ValueError, "n must be a power of two"),
        ("pw", bytes(16), 3 * 2**14, ValueError, "n must be a power of two"),
        (b"pw", bytes(16), FAST, TypeError, "passphrase must be a str"),
        (None, bytes(16), FAST, TypeError, "passphrase must be a str"),
        ("pw", None, FAST, TypeError, "salt must be bytes or str"),
        ("pw", 12345678901234567, FAST, TypeError, "salt must be bytes or str"),
        ("pw", bytearray(16), FAST, TypeError, "salt must be bytes or str"),
        ("pw", bytes(16), 2.0**14, TypeError, "n must be an int"),
        ("pw", bytes(16), True, TypeError, "n must be an int"),
    ],
)
def test_derive_key_validation(
    passphrase: object, salt: object, n: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as caught:
        Encryption.derive_key(passphrase, salt, n=n)  # type: ignore[arg-type]
    if isinstance(passphrase, str) and passphrase:
        assert passphrase not in str(caught.value)


# --- without cryptography -----------------------------------------------------------------


def test_without_cryptography_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.split(".")[0] == "cryptography"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    calls: list[Callable[[], object]] = [
        lambda: Encryption(KEY),
        Encryption.generate_key,
        lambda: Encryption.derive_key("pw", bytes(16)),
    ]
    for call in calls:
        with pytest.raises(ImportError, match="flet-storage\\[crypto\\]") as caught:
            call()
        assert INSTALL in str(caught.value)
        assert caught.value.name == "cryptography"


SCRIPT = """
import sys

sys.modules["cryptography"] = None  # as if not installed
import flet_storage
from flet_storage import Encryption

assert not any(name.startswith("cryptography.") for name in sys.modules)
for call in (
    lambda: Encryption(bytes(32)),
    Encryption.generate_key,
    lambda: Encryption.derive_key("pw", bytes(16)),
):
    try:
        call()
    except ImportError as error:
        print(error)
    else:
        raise AssertionError("no ImportError")
"""


def test_without_cryptography_in_a_fresh_interpreter() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.splitlines()
        == ['flet-storage encryption needs the "cryptography" package: ' + INSTALL] * 3
    )


def test_importing_flet_storage_does_not_import_cryptography() -> None:
    code = "import sys, flet_storage; print('cryptography' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
