"""Re-exports the ONNX graphs of the bundled model into liveavatar/assets/lite-onnx, with their manifest.

    python tools/export_bundled_graphs.py        (needs the train extra: PyTorch, onnxscript)

Run it whenever liveavatar/assets/lite.safetensors, the networks (liveavatar/models) or the export code
(liveavatar/engines/graphs.py, graph_writer.py) change (tests/test_bundled_graphs.py checks that they still match). The
graphs come from the project's own export (engines.export.export_checkpoint: generator fp32 and fp16,
embedder + projection), each checked against PyTorch on real faces from the shared portraits before it is
kept; the manifest records the checkpoint's sha256, each file's sha256, the export code's fingerprint, the
git commit, the library versions and the parity figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def git_commit(root: Path) -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "liveavatar/models", "engines"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+uncommitted-model-or-export-changes" if dirty else "")


def main() -> int:
    from liveavatar.engines.bundled import FILES, GRAPHS_DIR, MANIFEST
    from liveavatar.engines.cache import code_fingerprint
    from liveavatar.engines.export import export_checkpoint
    from liveavatar.engines.graph_writer import OPSET
    from liveavatar.models.checkpoint import bundled_checkpoint, file_sha256, load_checkpoint

    path = bundled_checkpoint()
    if path is None:
        print("this checkout has no bundled checkpoint (liveavatar/assets/lite.safetensors)", file=sys.stderr)
        return 2
    checkpoint = load_checkpoint(path, discriminator=False)
    MANIFEST.unlink(missing_ok=True)  # no manifest while the graphs are being replaced: nothing half-made is used
    report = export_checkpoint(checkpoint, GRAPHS_DIR, fp16=True, embedder=True)
    root = Path(__file__).resolve().parents[1]
    names = {name: key for key, name in FILES.items()}
    manifest = {
        "checkpoint": path.name,
        "checkpoint_sha256": checkpoint.sha256,
        "preset": checkpoint.config.preset,
        "files": {
            p.name: {"graph": names[p.name][0], "precision": names[p.name][1], "sha256": file_sha256(p)}
            for p in sorted(report.files)
        },
        "exported_by": {
            "tool": "tools/export_bundled_graphs.py → liveavatar.engines.export.export_checkpoint",
            "code_fingerprint": code_fingerprint(),
            "git_commit": git_commit(root),
            "opset": OPSET,
            **{lib: metadata.version(lib) for lib in ("torch", "onnx", "onnxscript", "onnxruntime")},
        },
        # Where the parity faces came from, without this machine's folder names.
        "parity": {"inputs": report.landmarks.replace(f"{root.parent}/", ""), "checks": report.checks},
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    for line in report.checks:
        print(line)
    print(f"wrote {', '.join(p.name for p in report.files)} and {MANIFEST.name} to {GRAPHS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
