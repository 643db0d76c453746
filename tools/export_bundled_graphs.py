"""Re-exports the bundled model's ONNX graphs, or makes another checkpoint the bundled model (one command).

    python tools/export_bundled_graphs.py                          re-export liveavatar/assets/NAME-onnx
    python tools/export_bundled_graphs.py --checkpoint RUN/checkpoint.safetensors
                                                                   make RUN's model the bundled one
(needs the train extra: PyTorch, onnxscript).

Re-export whenever the bundled checkpoint, the networks (liveavatar/models) or the export code
(liveavatar/engines/graphs.py, graph_writer.py, warp_graph.py) change (tests/test_bundled_graphs.py checks
that they still match). The graphs come from the project's own export (engines.export.export_checkpoint: G
fp32 and fp16 for the paper's presets, the whole frame graph for the `warp` presets, and E + P), each
checked against PyTorch on real faces from the shared portraits before it is kept; the manifest records the
checkpoint's sha256, each file's graph, precision and sha256, the export code's fingerprint, the git commit,
the library versions and the parity figures.

--checkpoint swaps the bundled model: the training checkpoint is split into what ships
(training.shipping.split_checkpoint: PRESET.safetensors with E, P, G and PRESET_discriminator.safetensors,
float16), its graphs are exported and checked into PRESET-onnx/, all in a staging folder; only when every
check passed are the previous model's files (its .safetensors, _discriminator.safetensors and -onnx/)
removed and the new ones moved in. Nothing else changes: the runtime finds the one model in the assets
(models.checkpoint.bundled_checkpoint). Update liveavatar/assets/MODEL_CARD.md by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def export_graphs(checkpoint_path: Path, graphs: Path, portraits: Path | None = None, say=print) -> dict:
    """Exports the graphs of `checkpoint_path` into `graphs` and writes their manifest; returns it."""
    from liveavatar.engines.bundled import MANIFEST_NAME, files_for
    from liveavatar.engines.cache import code_fingerprint
    from liveavatar.engines.export import export_checkpoint
    from liveavatar.engines.graph_info import frame_graph
    from liveavatar.engines.graph_writer import OPSET
    from liveavatar.models.checkpoint import file_sha256, load_checkpoint

    checkpoint = load_checkpoint(checkpoint_path, discriminator=False)
    manifest_path = graphs / MANIFEST_NAME
    manifest_path.unlink(missing_ok=True)  # no manifest while the graphs are being replaced: nothing half-made is used
    report = export_checkpoint(
        checkpoint, graphs, fp16=checkpoint.config.warp is None, portraits_dir=portraits, say=say
    )
    names = {name: key for key, name in files_for(checkpoint.config).items()}
    manifest = {
        "checkpoint": checkpoint_path.name,
        "checkpoint_sha256": checkpoint.sha256,
        "preset": checkpoint.config.preset,
        "files": {
            p.name: {"graph": names[p.name][0], "precision": names[p.name][1], "sha256": file_sha256(p)}
            for p in sorted(report.files)
        },
        "exported_by": {
            "tool": "tools/export_bundled_graphs.py → liveavatar.engines.export.export_checkpoint",
            "code_fingerprint": code_fingerprint(frame_graph(checkpoint.config)),
            "git_commit": git_commit(ROOT),
            "opset": OPSET,
            **{lib: metadata.version(lib) for lib in ("torch", "onnx", "onnxscript", "onnxruntime")},
        },
        # Where the parity faces came from, without this machine's folder names.
        "parity": {"inputs": report.landmarks.replace(f"{ROOT.parent}/", ""), "checks": report.checks},
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")  # export_checkpoint said each check
    return manifest


def bundle(source: Path, assets: Path, portraits: Path | None = None, say=print) -> Path:
    """Makes the training checkpoint `source` the model bundled in `assets`; returns the new checkpoint's path."""
    from liveavatar.engines.bundled import graphs_dir_for
    from liveavatar.models.checkpoint import DISCRIMINATOR_SUFFIX, open_checkpoint
    from liveavatar.training.shipping import split_checkpoint

    preset = open_checkpoint(source).config.preset
    staging = assets / f".staging-{preset}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        shipped, discriminator = split_checkpoint(source, staging / f"{preset}.safetensors")
        say(f"split {source} → {shipped.name}" + (f" + {discriminator.name}" if discriminator else " (no D)"))
        export_graphs(shipped, graphs_dir_for(shipped), portraits, say)
        old = [p for p in assets.glob("*.safetensors") if not p.stem.endswith(DISCRIMINATOR_SUFFIX)]
        for model in old:  # the previous bundled model, its discriminator and its graphs
            model.with_name(model.stem + DISCRIMINATOR_SUFFIX + model.suffix).unlink(missing_ok=True)
            shutil.rmtree(graphs_dir_for(model), ignore_errors=True)
            model.unlink()
            say(f"removed the previous bundled model {model.name}")
        for path in sorted(staging.iterdir()):
            path.replace(assets / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return assets / f"{preset}.safetensors"


def main(argv: list[str] | None = None) -> int:
    from liveavatar.engines.bundled import graphs_dir_for
    from liveavatar.models.checkpoint import BUNDLED_DIR, bundled_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="a trained checkpoint to make the bundled model")
    parser.add_argument("--assets", type=Path, default=BUNDLED_DIR, help="the package's assets folder (default)")
    parser.add_argument("--portraits", type=Path, help="portraits for the parity faces (default: shared data)")
    args = parser.parse_args(argv)
    if args.checkpoint is not None:
        path = bundle(args.checkpoint, args.assets, args.portraits)
        print(f"bundled model: {path} with its graphs in {graphs_dir_for(path)}; update MODEL_CARD.md")
        return 0
    path = bundled_checkpoint() if args.assets == BUNDLED_DIR else None
    if path is None:
        print(f"no bundled checkpoint in {args.assets}; pass --checkpoint CKPT to bundle one", file=sys.stderr)
        return 2
    export_graphs(path, graphs_dir_for(path), args.portraits)
    print(f"wrote the graphs and the manifest of {path.name} to {graphs_dir_for(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
