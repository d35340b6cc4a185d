"""Ed25519 key files: ``blockfsm keygen`` writes them, a node loads its own.

Format (UTF-8 JSON, one object)::

    {"kind": "blockfsm-ed25519-v1", "public_key": "<64 hex>", "seed": "<64 hex>"}

``seed`` is the 32-byte Ed25519 private seed (the secret); ``public_key`` is derived from it and
stored so that a mismatch (a hand-edited or corrupted file) is detected on load. The file is
created with mode 0600 and never overwritten; loading refuses a file readable by group or others.
A public key alone (to put in a peer list) is the 64-hex-digit ``public_key`` string.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from blockfsm.adapters.node.crypto import Ed25519Signer

KIND = "blockfsm-ed25519-v1"


class KeyFileError(ValueError):
    """A key file that cannot be used; the message says why."""


def write_key_file(path: str | Path, signer: Ed25519Signer | None = None) -> Ed25519Signer:
    """Create ``path`` (mode 0600, never overwriting) holding a new or the given key pair."""
    signer = signer or Ed25519Signer.generate()
    doc = {"kind": KIND, "public_key": signer.public_key.hex(), "seed": signer.seed.hex()}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return signer


def load_key_file(path: str | Path) -> Ed25519Signer:
    p = Path(path)
    try:
        mode = p.stat().st_mode
        text = p.read_text(encoding="utf-8")
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read key file ({error.strerror})") from None
    except UnicodeDecodeError:
        raise KeyFileError(f"{path}: not a key file (not UTF-8)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: permissions {oct(mode & 0o777)} are too open; chmod 600 it")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise KeyFileError(f"{path}: not a key file (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise KeyFileError(f"{path}: not a {KIND} key file")
    try:
        seed = bytes.fromhex(doc["seed"])
        public = bytes.fromhex(doc["public_key"])
    except (KeyError, TypeError, ValueError):
        raise KeyFileError(f"{path}: seed and public_key must be hex strings") from None
    if len(seed) != 32:
        raise KeyFileError(f"{path}: seed must be 32 bytes")
    signer = Ed25519Signer.from_seed(seed)
    if signer.public_key != public:
        raise KeyFileError(f"{path}: public_key does not match the seed")
    return signer


def parse_public_key(text: object, what: str = "public key") -> bytes:
    if not isinstance(text, str):
        raise KeyFileError(f"{what}: expected a string of 64 hex digits")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{what}: not hex") from None
    if len(key) != 32:
        raise KeyFileError(f"{what}: expected 32 bytes (64 hex digits), got {len(key)}")
    return key
