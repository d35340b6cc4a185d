"""The secure channel: mutual TLS 1.3 whose certificates hold the nodes' Ed25519 keys.

Each node presents one certificate whose public key *is* its validator (node) key, signed by that
key. TLS 1.3 makes each side sign its handshake transcript (both sides' fresh key shares included)
with the private key of the certificate it presents, so a peer that completes the handshake holds
the private key of the key it presents, on this very connection: a proof cannot be replayed or
relayed to another connection, and every byte after the handshake is encrypted and authenticated
with keys only the two ends hold.

Which keys are admitted is decided inside the handshake, by the standard chain check. A node
builds its trust store from its config alone: for each admitted key ``K`` a certificate named
``O=key, CN=<K in hex>`` holding ``K``, issued by the node itself (signed with its own key) and
used as a trust anchor. A peer's certificate is named ``O=node, CN=<K in hex>`` and issued by
``O=key, CN=<K in hex>``, so it chains to an anchor only if its signature verifies under an
admitted key; a stranger's handshake fails there and nothing about it is kept. The transport then
reads the key out of the verified certificate and checks it is admitted and, on a dialled
connection, that it is the key dialled.

Python's ``ssl`` takes certificates and private keys from files only: they are written to a
private temporary directory (mode 0700, removed right after loading).
"""

from __future__ import annotations

import datetime
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from blockfsm.adapters.node.crypto import Ed25519Signer
from blockfsm.machine.core import PeerId

_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
_PEM = serialization.Encoding.PEM
_RAW = serialization.Encoding.Raw


def _name(role: str, key: PeerId) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, role),
            x509.NameAttribute(NameOID.COMMON_NAME, key.hex()),
        ]
    )


def _private(signer: Ed25519Signer) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(signer.seed)


def node_certificate(signer: Ed25519Signer) -> x509.Certificate:
    """The certificate a node presents: its own key, signed by its own key."""
    key = signer.public_key
    return (
        x509.CertificateBuilder()
        .subject_name(_name("node", key))
        .issuer_name(_name("key", key))
        .public_key(Ed25519PublicKey.from_public_bytes(key))
        .serial_number(int.from_bytes(key[:16], "big") | 1)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(_private(signer), None)
    )


def anchor_certificate(signer: Ed25519Signer, admitted: PeerId) -> x509.Certificate:
    """A trust anchor for ``admitted``: its key under the name a node of that key is issued by,
    issued by ``signer``'s node (a local statement of the config, never sent)."""
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(_name("key", admitted))
        .issuer_name(_name("admitted-by", signer.public_key))
        .public_key(Ed25519PublicKey.from_public_bytes(admitted))
        .serial_number(int.from_bytes(admitted[:16], "big") | 1)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(_private(signer), None)
    )


def _context(purpose: int, signer: Ed25519Signer, admitted: Iterable[PeerId]) -> ssl.SSLContext:
    context = ssl.SSLContext(purpose)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # identities are keys, not host names
    context.verify_mode = ssl.CERT_REQUIRED  # the server asks for the client's certificate too
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the anchors are not self-signed
    with tempfile.TemporaryDirectory(prefix="blockfsm-tls-") as tmp:
        cert, key = Path(tmp) / "node.pem", Path(tmp) / "node.key"
        cert.write_bytes(node_certificate(signer).public_bytes(_PEM))
        key.touch(mode=0o600)
        key.write_bytes(
            _private(signer).private_bytes(
                _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(cert, key)
    anchors = [
        anchor_certificate(signer, k).public_bytes(_PEM).decode()
        for k in sorted(set(admitted))
        if k != signer.public_key
    ]
    if anchors:
        context.load_verify_locations(cadata="".join(anchors))
    return context


def server_context(signer: Ed25519Signer, admitted: Iterable[PeerId]) -> ssl.SSLContext:
    """For accepted connections: present ``signer``'s certificate, require an admitted one."""
    return _context(ssl.PROTOCOL_TLS_SERVER, signer, admitted)


def client_context(signer: Ed25519Signer, admitted: Iterable[PeerId]) -> ssl.SSLContext:
    """For dialled connections: present ``signer``'s certificate, require an admitted one."""
    return _context(ssl.PROTOCOL_TLS_CLIENT, signer, admitted)


def peer_key(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> PeerId | None:
    """The Ed25519 key of the verified certificate the other side presented, or None."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    public = x509.load_der_x509_certificate(der).public_key()
    if not isinstance(public, Ed25519PublicKey):
        return None
    return public.public_bytes(_RAW, serialization.PublicFormat.Raw)
