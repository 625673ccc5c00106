#!/usr/bin/env python3
"""Test-vector generator for the sealed-session envelope format, version 1.

This script is a second, stand-alone implementation of the envelope described in
the envelope-v1 spec (restated in the project's docs/FORMAT.md). It shares no code
with the Rust crate on purpose: the vectors it writes are only worth something as a
cross-check if they come from an independent implementation, so do not "fix" this
file by copying logic from the crate, and do not regenerate the vectors from Rust.

Rerun from the repository root:

    pip install cryptography
    python3 tools/gen_vectors.py                 # writes tests/vectors/envelope-v1.json
    python3 tools/gen_vectors.py other/path.json # or to another file

Output is fully deterministic (no randomness, no clock): running it twice gives the
same bytes. Fixed inputs are derived as follows:

    root key for key_id k  = SHA-256(b"sealed-session vector key " + decimal(k))
    salt of vector "name"  = SHA-256(b"sealed-session vector salt " + name)
    hashed storage key     = "sess:" + lowercase hex SHA-256(session id as UTF-8)
        key A: session id "vectors-session-id-one"
        key B: session id "vectors-session-id-two"

Every vector, valid or not, is sealed afresh with its own salt; an invalid vector's
envelope is then modified as its name says. The remaining fields (suite, codec,
key_id, key, storage_key, expires_at, salt, plaintext) describe the opener's
configuration and the value originally sealed. Invalid vectors assume an opener that
knows only `key_id` (configured with `suite`), a size limit well above 95 bytes, and
a clock at CHECK_TIME (before 1900000000, after 1700000000), which is also how the
self-check below opens them.

Before writing anything, the script checks its HKDF against RFC 5869 test case 1,
reopens every valid vector and decodes its plaintext, and confirms every invalid
vector is refused by the step named in its `reason`.
"""

import hashlib
import hmac
import json
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

# ---------------------------------------------------------------------------
# Format constants (from the spec)
# ---------------------------------------------------------------------------

VERSION = 0x01
SUITE_AES = 0x01
SUITE_CHACHA = 0x02
CODEC_BINCODE = 0x01
CODEC_JSON = 0x02
CODEC_POSTCARD = 0x03
CODEC_USER = 0x80

HEADER_LEN = 47          # version, suite, codec, key_id, expires_at, salt
PREFIX_LEN = 79          # header + 32-byte commitment; the AAD covers all of it
TAG_LEN = 16
OVERHEAD = PREFIX_LEN + TAG_LEN  # 95

LABEL_ENC = b"sealed-session v1 enc"
LABEL_COMMIT = b"sealed-session v1 commit"
LABEL_AAD = b"sealed-session v1 aad"

NONCE = bytes(12)

EXPIRES = 1900000000
EXPIRED = 1700000000
CHECK_TIME = 1800000000        # clock used when opening vectors in the self-check
MAX_LEN = 1 << 20              # size limit used when opening vectors in the self-check

# ---------------------------------------------------------------------------
# HKDF-SHA256 (RFC 5869), written out so it can be checked on its own
# ---------------------------------------------------------------------------


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def check_hkdf() -> None:
    # RFC 5869, appendix A.1 (test case 1).
    ikm = bytes([0x0B] * 22)
    salt = bytes(range(0x00, 0x0D))
    info = bytes(range(0xF0, 0xFA))
    prk = hkdf_extract(salt, ikm)
    assert prk.hex() == (
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    ), prk.hex()
    okm = hkdf_expand(prk, info, 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        "34007208d5b887185865"
    ), okm.hex()
    # And agree with the cryptography package's own HKDF-Expand.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    other = HKDFExpand(algorithm=hashes.SHA256(), length=42, info=info).derive(prk)
    assert other == okm


# ---------------------------------------------------------------------------
# Envelope sealing and opening
# ---------------------------------------------------------------------------


def derive(key: bytes, salt: bytes, suite: int, key_id: int) -> tuple[bytes, bytes]:
    """Return (enc_key, commitment) for one envelope."""
    prk = hkdf_extract(salt, key)
    tail = bytes([suite]) + struct.pack(">I", key_id)
    return hkdf_expand(prk, LABEL_ENC + tail, 32), hkdf_expand(prk, LABEL_COMMIT + tail, 32)


def aead(suite: int, enc_key: bytes):
    if suite == SUITE_AES:
        return AESGCM(enc_key)
    if suite == SUITE_CHACHA:
        return ChaCha20Poly1305(enc_key)
    raise ValueError(f"no AEAD for suite {suite}")


def make_aad(prefix: bytes, storage_key: str) -> bytes:
    sk = storage_key.encode("utf-8")
    return LABEL_AAD + prefix + struct.pack(">I", len(sk)) + sk


def seal(suite, codec, key_id, key, storage_key, expires_at, salt, plaintext) -> bytes:
    assert len(key) == 32 and len(salt) == 32 and key_id != 0
    enc_key, commitment = derive(key, salt, suite, key_id)
    prefix = (
        bytes([VERSION, suite, codec])
        + struct.pack(">I", key_id)
        + struct.pack(">Q", expires_at)
        + salt
        + commitment
    )
    assert len(prefix) == PREFIX_LEN
    # cryptography returns ciphertext || 16-byte tag, which is exactly the layout.
    body = aead(suite, enc_key).encrypt(NONCE, plaintext, make_aad(prefix, storage_key))
    return prefix + body


class Rejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def codec_known(codec: int) -> bool:
    return codec in (CODEC_BINCODE, CODEC_JSON, CODEC_POSTCARD) or codec >= 0x80


def open_envelope(env: bytes, keys: dict, storage_key: str, now: int) -> tuple[int, bytes]:
    """Open following the spec's steps 1-7; `keys` maps key_id -> (suite, key).

    Returns (codec, plaintext) or raises Rejected(reason). Decoding (step 8) is left
    to the caller.
    """
    if len(env) < OVERHEAD or len(env) > MAX_LEN:
        raise Rejected("length")
    if env[0] != VERSION:
        raise Rejected("version")
    suite, codec = env[1], env[2]
    if suite not in (SUITE_AES, SUITE_CHACHA):
        raise Rejected("suite")
    if not codec_known(codec):
        raise Rejected("codec")
    (key_id,) = struct.unpack(">I", env[3:7])
    if key_id == 0 or key_id not in keys:
        raise Rejected("unknown_key")
    cfg_suite, key = keys[key_id]
    if suite != cfg_suite:
        raise Rejected("suite_mismatch")
    (expires_at,) = struct.unpack(">Q", env[7:15])
    salt = env[15:HEADER_LEN]
    enc_key, commitment = derive(key, salt, suite, key_id)
    if not hmac.compare_digest(commitment, env[HEADER_LEN:PREFIX_LEN]):
        raise Rejected("commitment")
    try:
        plaintext = aead(suite, enc_key).decrypt(
            NONCE, env[PREFIX_LEN:], make_aad(env[:PREFIX_LEN], storage_key)
        )
    except InvalidTag:
        raise Rejected("authentication") from None
    if expires_at != 0 and expires_at <= now:
        raise Rejected("expired")
    return codec, plaintext


# ---------------------------------------------------------------------------
# The session value and its three built-in encodings
#   struct Session { user_id: u64 = 300, name: String = "alice", admin: bool = true }
# ---------------------------------------------------------------------------

SESSION = {"user_id": 300, "name": "alice", "admin": True}

# bincode 2, standard config (little-endian, variable-length integers):
PT_BINCODE = bytes(
    [
        0xFB, 0x2C, 0x01,  # user_id 300: >= 251, so marker 0xfb then u16 LE 0x012c
        0x05,              # name length 5 as a one-byte varint
        0x61, 0x6C, 0x69, 0x63, 0x65,  # "alice" in UTF-8
        0x01,              # admin = true
    ]
)

# serde_json, compact, fields in declaration order:
PT_JSON = json.dumps(SESSION, separators=(",", ":")).encode("utf-8")

# postcard 1 (LEB128 varints):
PT_POSTCARD = bytes(
    [
        0xAC, 0x02,        # user_id 300 = 0b10_0101100: low 7 bits 0x2c | 0x80, then 0x02
        0x05,              # name length 5
        0x61, 0x6C, 0x69, 0x63, 0x65,  # "alice"
        0x01,              # admin = true
    ]
)

PLAINTEXTS = {CODEC_BINCODE: PT_BINCODE, CODEC_JSON: PT_JSON, CODEC_POSTCARD: PT_POSTCARD}


def decode_bincode(b: bytes) -> dict:
    i = 0

    def varint() -> int:
        nonlocal i
        tag = b[i]
        i += 1
        if tag < 251:
            return tag
        width = {251: 2, 252: 4, 253: 8}[tag]
        v = int.from_bytes(b[i:i + width], "little")
        i += width
        return v

    user_id = varint()
    n = varint()
    name = b[i:i + n].decode("utf-8")
    i += n
    admin = {0: False, 1: True}[b[i]]
    i += 1
    assert i == len(b), "trailing bytes"
    return {"user_id": user_id, "name": name, "admin": admin}


def decode_postcard(b: bytes) -> dict:
    i = 0

    def varint() -> int:
        nonlocal i
        v, shift = 0, 0
        while True:
            byte = b[i]
            i += 1
            v |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return v

    user_id = varint()
    n = varint()
    name = b[i:i + n].decode("utf-8")
    i += n
    admin = {0: False, 1: True}[b[i]]
    i += 1
    assert i == len(b), "trailing bytes"
    return {"user_id": user_id, "name": name, "admin": admin}


def decode(codec: int, b: bytes):
    if codec == CODEC_BINCODE:
        return decode_bincode(b)
    if codec == CODEC_POSTCARD:
        return decode_postcard(b)
    if codec == CODEC_JSON:
        return json.loads(b.decode("utf-8"))
    return b  # user-defined: the bytes themselves


# ---------------------------------------------------------------------------
# Fixed inputs
# ---------------------------------------------------------------------------


def root_key(key_id: int) -> bytes:
    return hashlib.sha256(b"sealed-session vector key " + str(key_id).encode()).digest()


def salt_for(name: str) -> bytes:
    return hashlib.sha256(b"sealed-session vector salt " + name.encode()).digest()


def hashed_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


KEY_A = "sess:" + hashed_id("vectors-session-id-one")
KEY_B = "sess:" + hashed_id("vectors-session-id-two")
KEY_PLAIN = "app:connect-redis-style-id"

# ---------------------------------------------------------------------------
# Vectors
# ---------------------------------------------------------------------------


def vector(name, suite, codec, key_id, storage_key, expires_at, plaintext,
           envelope, valid, reason):
    return {
        "name": name,
        "suite": suite,
        "codec": codec,
        "key_id": key_id,
        "key": root_key(key_id).hex(),
        "storage_key": storage_key,
        "expires_at": expires_at,
        "salt": salt_for(name).hex(),
        "plaintext": plaintext.hex(),
        "envelope": envelope.hex(),
        "valid": valid,
        "reason": reason,
    }


def valid_vector(name, suite, codec, key_id, storage_key, expires_at, plaintext):
    env = seal(suite, codec, key_id, root_key(key_id), storage_key, expires_at,
               salt_for(name), plaintext)
    return vector(name, suite, codec, key_id, storage_key, expires_at, plaintext,
                  env, True, "")


def flip(index: int, mask: int):
    def edit(env: bytes) -> bytes:
        b = bytearray(env)
        b[index] ^= mask
        return bytes(b)
    return edit


def set_byte(index: int, value: int):
    def edit(env: bytes) -> bytes:
        b = bytearray(env)
        b[index] = value
        return bytes(b)
    return edit


def invalid_vector(name, reason, edit=lambda e: e, *, seal_suite=SUITE_AES,
                   seal_key=KEY_A, open_key=KEY_A, expires_at=EXPIRES):
    """Seal the base value (suite 1 unless told, codec 1, key_id 7), then edit it.

    The vector records the opener's side: suite 1, storage key `open_key`.
    """
    key_id, codec, pt = 7, CODEC_BINCODE, PT_BINCODE
    env = seal(seal_suite, codec, key_id, root_key(key_id), seal_key, expires_at,
               salt_for(name), pt)
    return vector(name, SUITE_AES, codec, key_id, open_key, expires_at, pt,
                  edit(env), False, reason)


def build() -> list:
    ok = [
        valid_vector("valid_aes_bincode", SUITE_AES, CODEC_BINCODE, 1, KEY_A, EXPIRES, PT_BINCODE),
        valid_vector("valid_chacha_bincode", SUITE_CHACHA, CODEC_BINCODE, 2, KEY_A, EXPIRES, PT_BINCODE),
        valid_vector("valid_aes_json", SUITE_AES, CODEC_JSON, 3, KEY_A, EXPIRES, PT_JSON),
        valid_vector("valid_chacha_json", SUITE_CHACHA, CODEC_JSON, 4, KEY_A, EXPIRES, PT_JSON),
        valid_vector("valid_aes_postcard", SUITE_AES, CODEC_POSTCARD, 5, KEY_A, EXPIRES, PT_POSTCARD),
        valid_vector("valid_chacha_postcard", SUITE_CHACHA, CODEC_POSTCARD, 6, KEY_A, EXPIRES, PT_POSTCARD),
        valid_vector("valid_no_expiry", SUITE_AES, CODEC_BINCODE, 0xFFFFFFFF, KEY_PLAIN, 0, PT_BINCODE),
        valid_vector("valid_empty_plaintext", SUITE_CHACHA, CODEC_USER, 9, KEY_A, EXPIRES, b""),
    ]
    bad = [
        invalid_vector("tag_bit_flipped", "authentication", lambda e: flip(len(e) - 1, 0x01)(e)),
        invalid_vector("ciphertext_bit_flipped", "authentication", flip(79, 0x80)),
        invalid_vector("header_bit_flipped", "authentication", flip(14, 0x01)),
        invalid_vector("key_id_bit_flipped", "unknown_key", flip(6, 0x01)),
        invalid_vector("salt_bit_flipped", "commitment", flip(20, 0x01)),
        invalid_vector("commitment_bit_flipped", "commitment", flip(50, 0x01)),
        invalid_vector("swapped_storage_key", "authentication", open_key=KEY_B),
        invalid_vector("other_prefix", "authentication",
                       open_key="other:" + KEY_A[len("sess:"):]),
        invalid_vector("suite_mismatch", "suite_mismatch", seal_suite=SUITE_CHACHA),
        invalid_vector("unknown_suite", "suite", set_byte(1, 0x03)),
        invalid_vector("unknown_codec", "codec", set_byte(2, 0x04)),
        invalid_vector("codec_zero", "codec", set_byte(2, 0x00)),
        invalid_vector("unknown_version", "version", set_byte(0, 0x02)),
        invalid_vector("version_zero", "version", set_byte(0, 0x00)),
        invalid_vector("truncated_to_94", "length", lambda e: e[:94]),
        invalid_vector("truncated_tag", "authentication", lambda e: e[:-1]),
        invalid_vector("empty", "length", lambda e: b""),
        invalid_vector("extended", "authentication", lambda e: e + b"\x00"),
        invalid_vector("zero_key_id", "unknown_key", lambda e: e[:3] + bytes(4) + e[7:]),
        invalid_vector("expired", "expired", expires_at=EXPIRED),
    ]
    return ok + bad


def self_check(vectors: list) -> None:
    names = [v["name"] for v in vectors]
    assert len(names) == len(set(names)), "duplicate names"
    for v in vectors:
        env = bytes.fromhex(v["envelope"])
        keys = {v["key_id"]: (v["suite"], bytes.fromhex(v["key"]))}
        if v["valid"]:
            assert len(env) == OVERHEAD + len(v["plaintext"]) // 2, v["name"]
            codec, pt = open_envelope(env, keys, v["storage_key"], CHECK_TIME)
            assert codec == v["codec"], v["name"]
            assert pt.hex() == v["plaintext"], v["name"]
            assert env[15:47].hex() == v["salt"], v["name"]
            decoded = decode(codec, pt)
            assert decoded == (SESSION if codec in PLAINTEXTS else b""), v["name"]
        else:
            try:
                open_envelope(env, keys, v["storage_key"], CHECK_TIME)
            except Rejected as e:
                assert e.reason == v["reason"], (v["name"], e.reason)
            else:
                raise AssertionError(f"{v['name']} opened but must not")
    for codec, pt in PLAINTEXTS.items():
        assert decode(codec, pt) == SESSION, codec
    assert PT_JSON == b'{"user_id":300,"name":"alice","admin":true}'
    assert len(bytes.fromhex(next(v for v in vectors
                                  if v["name"] == "valid_empty_plaintext")["envelope"])) == 95


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "tests", "vectors", "envelope-v1.json")
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(default)

    check_hkdf()
    vectors = build()
    self_check(vectors)

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(vectors, indent=2) + "\n")
    print(f"wrote {len(vectors)} vectors to {out}")


if __name__ == "__main__":
    main()
