"""The transport and runtime under bad input: every failure closes a connection with a logged
reason or is a counted rejection; the node keeps running and its store stays intact."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import ssl
from pathlib import Path

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockfsm.adapters.node.codec import HEADER, WIRE_VERSION, Hello, Proof, encode_frame
from blockfsm.adapters.node.crypto import Ed25519Signer
from blockfsm.machine.messages import AdvertiseBlock, AdvertiseCertificate
from blockfsm.machine.types import advertise_block_payload, certify
from tests.netkit import (
    CHAIN,
    KEYS,
    STRANGER,
    Node,
    channel,
    closed,
    reasons,
    tls,
    wait,
)

pytestmark = pytest.mark.timeout(60)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""


def _forged_context(me: Ed25519Signer, claimed: bytes) -> ssl.SSLContext:
    """A client context whose certificate says it is issued by ``claimed``'s key, but is signed
    by ``me`` (who does not hold ``claimed``'s private key)."""
    private = Ed25519PrivateKey.from_private_bytes(me.seed)

    def name(role: str, key: bytes) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, role),
                x509.NameAttribute(NameOID.COMMON_NAME, key.hex()),
            ]
        )

    cert = (
        x509.CertificateBuilder()
        .subject_name(name("node", claimed))
        .issuer_name(name("key", claimed))
        .public_key(private.public_key())
        .serial_number(7)
        .not_valid_before(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(9999, 1, 1, tzinfo=datetime.UTC))
        .sign(private, None)
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    pem = Path(os.environ.get("TMPDIR", "/tmp")) / f"forged-{os.getpid()}-{id(cert)}"
    pem.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.with_suffix(".key").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    try:
        context.load_cert_chain(pem.with_suffix(".crt"), pem.with_suffix(".key"))
    finally:
        pem.with_suffix(".crt").unlink()
        pem.with_suffix(".key").unlink()
    return context


CASES = {
    # case: (rejection kind, reason text)
    "stranger": ("key_not_allowed", "certificate not admitted"),
    "forged_certificate": ("key_not_allowed", "certificate not admitted"),
    "own_key": ("key_not_allowed", "certificate not admitted"),
    "wrong_chain": ("wrong_chain", "wrong chain id"),
    "hello_names_another_key": ("bad_hello", "other than the certificate"),
    "proof_first": ("bad_hello", "expected Hello"),
    "big_first_frame": ("bad_hello", "exceeds 1024"),
    "plaintext_hello": ("tls_failed", "TLS"),
    "garbage": ("tls_failed", "TLS"),
    "silent": ("handshake_timeout", "timed out"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_peer_failing_the_handshake_is_refused_counted_and_logged(
    tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    kind, text = CASES[case]

    async def main() -> None:
        async with Node(tmp_path) as node:
            hello = Hello(chain_id=CHAIN, public_key=KEYS[1].public_key, nonce=bytes(32))
            try:
                if case in ("stranger", "own_key"):
                    me = STRANGER if case == "stranger" else KEYS[0]
                    r, w = await tls(node.port, me, verify=False)
                    w.write(encode_frame(attrs.evolve(hello, public_key=b"\x00" * 32)))
                elif case == "forged_certificate":
                    forged = _forged_context(STRANGER, KEYS[1].public_key)
                    r, w = await asyncio.open_connection(
                        "127.0.0.1", node.port, ssl=forged, server_hostname=None
                    )
                    w.write(encode_frame(hello))
                elif case in ("plaintext_hello", "garbage", "silent"):
                    r, w = await asyncio.open_connection("127.0.0.1", node.port)
                    if case == "plaintext_hello":
                        w.write(encode_frame(hello))
                    elif case == "garbage":
                        w.write(b"\x00\x00\x00\x05\x01\xc1\xc1\xc1\xc1" * 100)
                else:
                    r, w = await tls(node.port, KEYS[1])
                    if case == "wrong_chain":
                        w.write(encode_frame(attrs.evolve(hello, chain_id=CHAIN + 1)))
                    elif case == "hello_names_another_key":
                        w.write(encode_frame(attrs.evolve(hello, public_key=KEYS[2].public_key)))
                    elif case == "proof_first":
                        w.write(encode_frame(Proof(signature=bytes(64))))
                    elif case == "big_first_frame":
                        w.write(HEADER.pack(8 << 20) + b"\x01" * 4096)
                await closed(r)
            except (OSError, asyncio.IncompleteReadError):
                pass  # refused during the client's TLS handshake
            assert await wait(lambda: node.transport.rejections[kind] == 1), (
                dict(node.transport.rejections),
                reasons(node),
            )
            assert text in reasons(node), reasons(node)
            assert sum(node.transport.rejections.values()) == 1
            assert not node.transport.connected() and not node.transport.peers
            assert node.transport.pending == 0
            node.intact()

    with caplog.at_level(logging.WARNING, logger="blockfsm.transport"):
        asyncio.run(main())
    assert any(text in rec.getMessage() for rec in caplog.records)


def test_bad_frames_after_the_handshake_close_the_connection_not_the_node(
    tmp_path: Path,
) -> None:
    frames = [
        b"\x00\x00\x00\x03\x01\x92\x01",  # truncated array
        HEADER.pack(1 << 30),  # oversized
        HEADER.pack(2) + bytes((WIRE_VERSION + 1, 0x90)),  # wrong version
        HEADER.pack(4) + bytes((WIRE_VERSION,)) + b"\x92\x01\xa1",  # wrong types / truncated
        HEADER.pack(3) + bytes((WIRE_VERSION,)) + b"\x91\x63",  # unknown tag
    ]

    async def main() -> None:
        async with Node(tmp_path) as node:
            for i, frame in enumerate(frames):
                r, w = await channel(node.port, KEYS[1])
                await wait(lambda: node.transport.connected())
                w.write(frame)
                await w.drain()
                await closed(r)
                await wait(lambda n=i: len(node.transport.closed_reasons) > n)
            reasons = node.transport.closed_reasons
            assert len(reasons) == len(frames), reasons
            assert any("exceeds" in x for x in reasons)
            assert any("version" in x for x in reasons)
            assert any("tag" in x for x in reasons)
            # still serving: a well-behaved peer gets through
            r, w = await channel(node.port, KEYS[2])
            assert await wait(lambda: KEYS[2].public_key in node.transport.connected())
            w.close()
            node.intact()

    asyncio.run(main())


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(garbage=st.binary(min_size=1, max_size=300))
def test_hypothesis_garbage_after_the_handshake_never_crashes_the_node(
    tmp_path_factory: pytest.TempPathFactory, garbage: bytes
) -> None:
    tmp = tmp_path_factory.mktemp("g")

    async def main() -> None:
        async with Node(tmp) as node:
            r, w = await channel(node.port, KEYS[1])
            w.write(HEADER.pack(len(garbage)) + garbage)
            await w.drain()
            w.close()
            await closed(r)
            assert await wait(lambda: node.transport.closed_reasons)
            assert await wait(lambda: not node.runtime._tasks[1].done())
            node.intact()

    asyncio.run(main())


def test_wrong_chain_bad_signature_and_replayed_advertisements_are_counted_rejections(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with Node(tmp_path) as node:
            _r, w = await channel(node.port, KEYS[1])
            await wait(lambda: node.transport.connected())
            now = node.runtime.now()
            key = KEYS[1].public_key

            def ad(chain: int, ts: int, signer: Ed25519Signer = KEYS[1]) -> AdvertiseBlock:
                sig = signer.sign(advertise_block_payload(chain, key, 50, ts))
                return AdvertiseBlock(
                    chain_id=chain, server=key, committed_height=50, timestamp=ts, signature=sig
                )

            good = ad(CHAIN, now)
            block = node.store.block_at(5)
            assert block is not None
            bad_cert = certify(chain_id=CHAIN + 1, view=99, block=block, signers=KEYS[:3])
            for m in [
                good,
                good,  # replayed
                ad(CHAIN + 1, now + 1),  # wrong chain
                ad(CHAIN, now + 2, signer=KEYS[2]),  # bad signature
                attrs.evolve(good, timestamp=now + 3),  # signature does not cover it
                AdvertiseCertificate(certificate=bad_cert),  # wrong chain certificate
            ]:
                w.write(encode_frame(m))
            await w.drain()
            assert await wait(lambda: sum(node.runtime.rejections.values()) >= 5)
            assert dict(node.runtime.rejections) == {
                "stale_advertisement": 1,
                "wrong_chain": 2,
                "bad_signature": 2,
            }
            assert node.transport.connected()
            w.close()
            node.intact()
            return None

    asyncio.run(main())
