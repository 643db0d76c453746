"""C2PA on what LiveAvatar writes: the per-installation key made on first use, an organisation's own
certificate, manifests read back with c2pa-python's Reader from real recordings, pose stills and demo
output, what a killed recording carries, and `liveavatar check`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liveavatar.cli import main
from liveavatar.provenance.manifest import TRAINED_ALGORITHMIC_MEDIA, manifest_json, read_manifest, sign_file
from liveavatar.provenance.watermark import embed_watermark


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("LIVEAVATAR_CONFIG_DIR", str(folder))
    monkeypatch.delenv("LIVEAVATAR_C2PA_CERT", raising=False)
    monkeypatch.delenv("LIVEAVATAR_C2PA_KEY", raising=False)
    return folder


def _marked_png(path: Path) -> Path:
    from liveavatar.files.imageio import write_image

    rng = np.random.default_rng(1)
    image = cv2_blur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8))
    write_image(path, embed_watermark(image))
    return path


def cv2_blur(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), 3)


def _record(path: Path, frames: int = 60, fps: float = 25.0, close: bool = True):
    from liveavatar.sinks.record import RecordSink
    from liveavatar.types import Frame

    rng = np.random.default_rng(2)
    base = cv2_blur(rng.integers(0, 255, (360, 640, 3), dtype=np.uint8))
    recorder = RecordSink(path, 640, 360, fps, report=lambda state: None, lossless=True, model_sha256="ab" * 32)
    recorder.open()
    for i in range(frames):
        recorder.send(Frame(embed_watermark(np.roll(base, i, axis=1)), i / fps, i), wait=True)
    if close:
        recorder.close()
    return recorder


def test_first_use_makes_the_installation_key_and_a_still_is_signed(config_dir, tmp_path):
    import liveavatar.provenance.signing  # noqa: F401 - importing makes nothing

    assert not config_dir.exists()
    still = _marked_png(tmp_path / "still.png")
    sign_file(still, "cd" * 32)
    key_file = config_dir / "c2pa" / "signing.pem"
    assert key_file.is_file() and (key_file.stat().st_mode & 0o077) == 0  # the owner's only
    report = read_manifest(still)
    assert report.present and report.signature_valid and not report.trusted  # valid, by an unknown signer
    assert report.source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.agent == f"LiveAvatar 0.1.0 model sha256:{'cd' * 32}"
    first = key_file.read_bytes()
    sign_file(_marked_png(tmp_path / "second.png"))
    assert key_file.read_bytes() == first  # made once, then reused
    text = manifest_json(still)
    for personal in (
        str(Path.home()),
        str(tmp_path),
        __import__("getpass").getuser(),
        __import__("socket").gethostname(),
    ):
        assert personal not in text  # no personal data: no user, host or path
    assert "c2pa.thumbnail" not in text


def test_a_changed_file_no_longer_verifies(config_dir, tmp_path):
    still = _marked_png(tmp_path / "still.png")
    sign_file(still)
    data = bytearray(still.read_bytes())
    data[-200] ^= 0xFF  # inside the image data, after the manifest
    still.write_bytes(bytes(data))
    report = read_manifest(still)
    assert report.present and not report.signature_valid


def test_an_organisation_signs_with_its_own_certificate(config_dir, tmp_path, monkeypatch):
    from liveavatar.provenance import signing

    org = tmp_path / "org"
    signing._make_installation_identity(org / "made.pem")  # any chain c2pa accepts: made here as an organisation's
    text = (org / "made.pem").read_bytes()
    key = b"".join(b for b in signing._pem_blocks(text) if b"PRIVATE KEY" in b[:40])
    chain = b"".join(b for b in signing._pem_blocks(text) if b"CERTIFICATE" in b[:40])
    (org / "cert.pem").write_bytes(chain)
    (org / "key.pem").write_bytes(key)
    monkeypatch.setenv("LIVEAVATAR_C2PA_CERT", str(org / "cert.pem"))
    monkeypatch.setenv("LIVEAVATAR_C2PA_KEY", str(org / "key.pem"))
    still = _marked_png(tmp_path / "still.png")
    sign_file(still)
    assert read_manifest(still).signature_valid
    assert not (config_dir / "c2pa").exists()  # the installation's own key was never made
    monkeypatch.delenv("LIVEAVATAR_C2PA_KEY")
    from liveavatar.errors import LiveAvatarError

    with pytest.raises(LiveAvatarError, match="set both LIVEAVATAR_C2PA_CERT"):
        sign_file(still)


def test_a_finished_recording_is_signed_and_still_plays_whole(config_dir, tmp_path):
    from liveavatar.sinks.mp4tags import read_tags
    from liveavatar.sinks.record import playable_frames

    out = tmp_path / "rec.mp4"
    recorder = _record(out)
    assert recorder.saved == out
    report = read_manifest(out)
    assert report.signature_valid and report.source_type == TRAINED_ALGORITHMIC_MEDIA
    assert "ab" * 32 in report.agent
    assert playable_frames(out) == (60, 2.4)
    assert read_tags(out)["©cmt"].startswith("Generated by LiveAvatar")


def test_what_a_killed_recording_carries(config_dir, tmp_path):
    """A kill leaves the partial file: no manifest (signing is at the finish), the MP4 tag and the
    watermark in its frames."""
    from liveavatar.provenance.check import check_file
    from liveavatar.sinks.mp4tags import read_tags

    out = tmp_path / "rec.mp4"
    recorder = _record(out, frames=80, close=False)
    import time

    deadline = time.monotonic() + 20
    while recorder.kept < 50 and time.monotonic() < deadline:  # whole fragments on disk
        time.sleep(0.05)
    left = tmp_path / "left-by-a-kill.mp4"
    shutil.copyfile(recorder.tmp, left)  # what is on disk at this instant, as SIGKILL would leave it
    recorder.abort()
    assert not read_manifest(left).present
    assert read_tags(left)["©cmt"].startswith("Generated by LiveAvatar")
    report = check_file(left)
    assert report.watermark.present and report.marked


def test_check_verb_exit_codes(config_dir, tmp_path, portraits, capsys):
    marked = _marked_png(tmp_path / "marked.png")
    sign_file(marked)
    assert main(["check", str(marked)]) == 0
    out = capsys.readouterr().out
    assert "watermark: present in 1/1 window" in out and "signature verifies, unknown signer" in out
    assert "trainedAlgorithmicMedia" in out
    assert main(["check", str(portraits / "painting_mona_lisa.jpg")]) == 1
    assert "no LiveAvatar mark found" in capsys.readouterr().out
    assert main(["check", str(marked), str(portraits / "painting_mona_lisa.jpg")]) == 1  # one is not marked
    capsys.readouterr()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    assert main(["check", str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable image or video" in err
    assert main(["check", str(tmp_path / "missing.png")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unsigned_but_watermarked_video_is_marked(config_dir, tmp_path, capsys):
    out = tmp_path / "rec.mp4"
    _record(out)
    stripped = tmp_path / "reencoded.mp4"  # a re-encode drops the manifest; the watermark stays
    import av

    with av.open(str(out)) as src, av.open(str(stripped), "w") as dst:
        stream = dst.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = 640, 360, "yuv420p", 500_000
        for frame in src.decode(video=0):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    assert main(["check", str(stripped)]) == 0
    out_text = capsys.readouterr().out
    assert "C2PA manifest: none" in out_text and "watermark: present in 2/2 1-s windows" in out_text


@pytest.mark.slow
def test_pose_still_and_demo_output_carry_manifest_and_watermark(config_dir, checkpoint_path, portraits, tmp_path):
    from liveavatar.provenance.check import check_file

    still = tmp_path / "pose.png"
    portrait = portraits / "painting_girl_with_a_pearl_earring.jpg"
    args = ["pose", str(portrait), "--checkpoint", str(checkpoint_path), "--engine", "torch", "--smile", "0.5"]
    assert main(args + ["-o", str(still), "--no-ai-mark"]) == 0  # no visible mark: watermark and manifest stay
    demo = tmp_path / "demo.mp4"
    demo_args = [
        "demo",
        "--checkpoint",
        str(checkpoint_path),
        "--frames",
        "30",
        "--out",
        str(demo),
        "--engine",
        "torch",
    ]
    assert main(demo_args + ["--portrait", str(portrait)]) == 0
    for path in (still, demo):
        report = check_file(path)
        assert report.manifest.signature_valid and report.manifest.source_type == TRAINED_ALGORITHMIC_MEDIA, path
        assert report.watermark.present, path
    # The agent names the model in use (the checkpoint's SHA-256).
    from liveavatar.models.checkpoint import file_sha256

    assert file_sha256(checkpoint_path) in read_manifest(still).agent


def test_importing_liveavatar_loads_no_c2pa():
    code = (
        "import sys, liveavatar, liveavatar.pipeline.stages, liveavatar.sinks.record, liveavatar.provenance.check; "
        "print(json.dumps([m for m in ('c2pa', 'cryptography') if m in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []
