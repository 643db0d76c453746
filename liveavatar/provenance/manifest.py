"""The C2PA manifest on every file LiveAvatar writes, and reading one back.

What it claims (and nothing personal: no user, host, path, portrait name or time beyond the signature's):
one `c2pa.created` action whose digitalSourceType is IPTC's trainedAlgorithmicMedia, done by the software
agent "LiveAvatar <version>" with the model's SHA-256. No thumbnail is embedded (it would be a second copy
of the picture inside the file). The signature comes from signing.py: this installation's key, or an
organisation's own certificate.

Signing reads the finished file and writes a signed copy beside it, then replaces the file with it
(c2pa embeds the manifest in a `uuid` box before the MP4's moov, or a chunk of the PNG/JPEG). c2pa signs
the recorder's fragmented MP4 as it is (measured: docs/PROVENANCE.md), so recordings are signed when
they are finished; a recording that is killed never gets there and carries no manifest (only the
watermark in its frames and the MP4 text tag).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from liveavatar import __version__
from liveavatar.errors import LiveAvatarError

log = logging.getLogger(__name__)

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
UNTRUSTED = "signingCredential.untrusted"  # c2pa's code for a valid signature by a signer it does not know
MIME_BY_SUFFIX = {".mp4": "video/mp4", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def build_manifest(model_sha256: str = "") -> dict:
    """The manifest definition (c2pa Builder JSON). model_sha256: the generator's checkpoint digest, or ""."""
    agent = f"{__version__}" + (f" model sha256:{model_sha256}" if model_sha256 else "")
    return {
        "claim_generator_info": [{"name": "LiveAvatar", "version": __version__}],
        "title": "AI-generated video or image (LiveAvatar)",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {"name": "LiveAvatar", "version": agent},
                            "description": "A portrait animated by a neural network driven by another face",
                        }
                    ]
                },
            }
        ],
    }


def sign_file(path: Path, model_sha256: str = "") -> None:
    """Embeds a signed manifest in the finished file at `path` (.mp4, .png, .jpg), in place. Raises
    LiveAvatarError when it cannot (the file itself is left as it was)."""
    import c2pa

    from liveavatar.provenance.signing import signing_identity

    path = Path(path)
    mime = MIME_BY_SUFFIX.get(path.suffix.lower())
    if mime is None:
        raise LiveAvatarError(f"cannot sign {path}: C2PA signing here covers {', '.join(MIME_BY_SUFFIX)} files")
    identity = signing_identity()
    signed = path.with_name(f".{path.name}.{secrets.token_hex(3)}.signing")
    try:
        info = c2pa.C2paSignerInfo(getattr(c2pa.C2paSigningAlg, identity.alg), identity.chain, identity.key, None)
        context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(build_manifest(model_sha256), context) as builder:
            with open(path, "rb") as source, open(signed, "w+b") as dest:
                builder.sign(signer, mime, source, dest)
        os.replace(signed, path)
    except (c2pa.C2paError, OSError) as exc:
        raise LiveAvatarError(f"could not sign {path} with C2PA ({identity.source}): {exc}") from None
    finally:
        signed.unlink(missing_ok=True)


def sign_or_warn(path: Path, model_sha256: str = "") -> bool:
    """sign_file, but a failure is logged, not raised: a file that cannot be signed is still kept (its
    frames carry the watermark). True when signed."""
    try:
        sign_file(path, model_sha256)
        return True
    except LiveAvatarError as exc:
        log.warning("%s", exc)
        return False


@dataclass(frozen=True)
class ManifestReport:
    """present: a C2PA manifest was found; validation_state: c2pa's verdict ("Valid", "Trusted", "Invalid";
    "" when none); source_type: the created action's digitalSourceType; agent: its softwareAgent as text;
    signer: the signing certificate's common name and issuer; failures: c2pa's failure codes."""

    present: bool
    validation_state: str = ""
    source_type: str = ""
    agent: str = ""
    signer: str = ""
    failures: tuple[str, ...] = field(default_factory=tuple)
    error: str = ""

    @property
    def signature_valid(self) -> bool:
        """The signature verifies and the file is as signed (the signer may still be unknown: trusted)."""
        return (
            self.present
            and self.validation_state in ("Valid", "Trusted")
            and all(code == UNTRUSTED for code in self.failures)
        )

    @property
    def trusted(self) -> bool:
        """The signer is on a trust list this machine's c2pa knows (never for an installation's own key)."""
        return self.signature_valid and UNTRUSTED not in self.failures


def read_manifest(path: Path) -> ManifestReport:
    """The active C2PA manifest of a file, as c2pa-python's Reader sees it."""
    import c2pa

    try:
        reader = c2pa.Reader.try_create(str(path))
    except c2pa.C2paError as exc:
        kind = type(exc).__name__
        if "NotSupported" in kind:  # WebM, MPEG-1…: C2PA has no place for a manifest in them
            return ManifestReport(False, error="C2PA does not cover this file type")
        # Anything else: a manifest is there but cannot be read (damaged, cut short).
        return ManifestReport(present="ManifestNotFound" not in kind, error=str(exc))
    if reader is None:
        return ManifestReport(False)
    with reader:
        manifest = reader.get_active_manifest() or {}
        state = reader.get_validation_state() or ""
        results = reader.get_validation_results() or {}
    source_type, agent = "", ""
    for assertion in manifest.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                if action.get("action") == "c2pa.created":
                    source_type = action.get("digitalSourceType", "")
                    software = action.get("softwareAgent", "")
                    agent = (
                        software
                        if isinstance(software, str)
                        else " ".join(str(software.get(k, "")) for k in ("name", "version")).strip()
                    )
    info = manifest.get("signature_info", {})
    signer = ", ".join(str(info[k]) for k in ("common_name", "issuer") if info.get(k))
    failures = tuple(
        item.get("code", "") for item in (results.get("activeManifest", {}) or {}).get("failure", []) or []
    )
    return ManifestReport(True, state, source_type, agent, signer, failures)


def manifest_json(path: Path) -> str:
    """The whole manifest store as c2pa reports it (JSON text), for `liveavatar check --json`-like dumps."""
    import c2pa

    reader = c2pa.Reader.try_create(str(path))
    if reader is None:
        return json.dumps(None)
    with reader:
        return reader.json()
