"""Who signs LiveAvatar's C2PA manifests: this installation's own key, or an organisation's certificate.

By default a key and certificate are made on first use (never at import, never over the network) in the
config folder's c2pa/signing.pem (config_dir.py): an EC P-256 key, and a two-certificate chain made for it, a
"LiveAvatar installation" signing certificate issued by a per-installation root. C2PA refuses a
self-signed signing certificate outright, so the self-signed part is the root; no trust list holds it,
so validators show the manifest's signature as valid but its signer as unknown (untrusted).

An organisation uses its own certificate by naming two PEM files (README, "Provenance"):
LIVEAVATAR_C2PA_CERT (the signing certificate first, then its chain) and LIVEAVATAR_C2PA_KEY (its private
key: EC P-256/P-384/P-521, Ed25519 or RSA). Naming only one of them is an error, said in one line.
"""

from __future__ import annotations

import datetime
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from liveavatar.errors import InputError
from liveavatar.provenance.config_dir import config_dir

CERT_ENV = "LIVEAVATAR_C2PA_CERT"
KEY_ENV = "LIVEAVATAR_C2PA_KEY"
IDENTITY_FILE = "signing.pem"  # the key and the chain in one file: one atomic rename, never a mismatched pair
VALID_YEARS = 10


@dataclass(frozen=True)
class SigningIdentity:
    """chain: PEM certificates, the signing one first; key: its PEM private key; alg: the C2PA algorithm's
    name (c2pa.C2paSigningAlg member); source: where they came from, for messages."""

    chain: bytes
    key: bytes
    alg: str
    source: str


def signing_identity() -> SigningIdentity:
    """The organisation's certificate when LIVEAVATAR_C2PA_CERT/KEY name one, else this installation's
    (made now if it does not exist yet)."""
    cert_path, key_path = os.environ.get(CERT_ENV), os.environ.get(KEY_ENV)
    if cert_path or key_path:
        if not (cert_path and key_path):
            raise InputError(
                f"set both {CERT_ENV} (certificate chain, PEM) and {KEY_ENV} (private key, PEM), or neither"
            )
        chain, key = _read(Path(cert_path), CERT_ENV), _read(Path(key_path), KEY_ENV)
        return SigningIdentity(chain, key, _algorithm(key, KEY_ENV), f"{CERT_ENV}={cert_path}")
    path = config_dir() / "c2pa" / IDENTITY_FILE
    if not path.is_file():
        _make_installation_identity(path)
    text = _read(path, "the installation's signing key")
    key = b"".join(block for block in _pem_blocks(text) if b"PRIVATE KEY" in block.split(b"\n", 1)[0])
    chain = b"".join(block for block in _pem_blocks(text) if b"CERTIFICATE" in block.split(b"\n", 1)[0])
    return SigningIdentity(chain, key, _algorithm(key, str(path)), str(path))


def _pem_blocks(text: bytes) -> list[bytes]:
    marker = b"-----BEGIN "
    return [marker + part for part in text.split(marker)[1:]]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{what}: cannot read {path} ({exc.strerror}); name a readable PEM file") from None


def _algorithm(key_pem: bytes, what: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what}: not an unencrypted PEM private key ({exc})") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        if key.curve.name in by_curve:
            return by_curve[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ED25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "PS256"
    raise InputError(f"{what}: C2PA signs with EC P-256/P-384/P-521, Ed25519 or RSA keys; this key is none of them")


def _make_installation_identity(path: Path) -> None:
    """A per-installation root (self-signed, CA) and the signing certificate it issues, written with
    owner-only permissions; written under temporary names and renamed, so a half-made pair is never used."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=365 * VALID_YEARS)
    # No personal data: the names say only what the certificates are.
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LiveAvatar"),
            x509.NameAttribute(NameOID.COMMON_NAME, "LiveAvatar installation root (self-signed)"),
        ]
    )
    leaf_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LiveAvatar"),
            x509.NameAttribute(NameOID.COMMON_NAME, "LiveAvatar installation"),
        ]
    )
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(leaf_name)
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + root.public_bytes(pem)
    key = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # The root's key is not kept: nothing else is ever issued under it.
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key + chain)
        if not path.exists():  # two first uses at once: the first pair stays, the second is dropped
            os.replace(tmp, path)
        tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot keep the signing key in {folder} ({exc.strerror}); "
            f"make it writable or set {CERT_ENV} and {KEY_ENV}"
        ) from None
