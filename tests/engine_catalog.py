"""The one catalog of tiny random-weight models every engine is checked against (import its fixtures).

Each entry is a real checkpoint file written by save_checkpoint (spectral norm folded) and loaded back by
load_checkpoint, so engines see exactly what users' checkpoints give them:
  tiny          the tiny preset (64 px, nearest-neighbour head, attention at 16 px down and up)
  tiny-shuffle  64 px with lite's features: pixel-shuffle head, two AdaIN residual blocks, up-attention
                at 32 px; its ψ is a different length, which the mismatch tests use.
Landmark images are real (mediapipe on the shared portraits → face_crop → rasterize_landmarks) when the
shared data is present, else drawn from a real face's template geometry; ψ comes from each model's
embedder on the same real faces.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA

from liveavatar.config import PRESETS, GeneratorConfig, ModelConfig
from liveavatar.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from liveavatar.models.talking_head import TalkingHead

# Largest and mean |difference| from the PyTorch eager fp32 frames, in uint8 levels, per precision.
# fp32: the same arithmetic in another order; a value within float error of .5 rounds the other way.
# fp16/bf16: 10/7 mantissa bits through ~20 layers of random weights (trained weights are tamer).
TOLERANCES: dict[str, tuple[int, float]] = {"fp32": (2, 0.02), "fp16": (40, 2.0), "bf16": (80, 4.0)}
NUM_LANDMARK_IMAGES = 4

TINY_SHUFFLE = dataclasses.replace(
    PRESETS["tiny"],
    preset="tiny-shuffle",
    generator=GeneratorConfig(
        down_channels=(8, 16, 32),
        res_blocks=2,
        up_channels=(16, 8),
        attn_down_size=16,
        attn_up_size=32,
        pixel_shuffle_head=True,
    ),
)
CATALOG: dict[str, ModelConfig] = {"tiny": PRESETS["tiny"], "tiny-shuffle": TINY_SHUFFLE}


@dataclass(frozen=True)
class Case:
    """One catalog model with its inputs and the reference output every engine must reproduce."""

    name: str
    checkpoint: Checkpoint
    images: np.ndarray  # N×S×S×3 uint8 RGB landmark images
    psi: np.ndarray  # N×L float32
    expected: np.ndarray  # N×S×S×3 uint8 RGB: PyTorch eager fp32 frames
    real: bool  # landmark images from real faces


def write_catalog(folder: Path) -> dict[str, Path]:
    paths = {}
    for i, (name, config) in enumerate(CATALOG.items()):
        torch.manual_seed(100 + i)
        model = TalkingHead(config, num_videos=2)
        paths[name] = folder / f"{name}.safetensors"
        save_checkpoint(paths[name], model, {"note": "random weights for engine tests"})
    return paths


def landmark_inputs(size: int):
    from liveavatar.engines.samples import landmark_samples

    folder = SHARED_DATA / "portraits"
    return landmark_samples(size, NUM_LANDMARK_IMAGES, folder if folder.is_dir() else None)


@pytest.fixture(scope="session")
def catalog_paths(tmp_path_factory) -> dict[str, Path]:
    return write_catalog(tmp_path_factory.mktemp("catalog"))


@pytest.fixture(scope="session")
def catalog(catalog_paths) -> dict[str, Case]:
    from liveavatar.engines.graph_writer import psi_for, reference_frames

    cases = {}
    samples = landmark_inputs(64)
    for name, path in catalog_paths.items():
        checkpoint = load_checkpoint(path, discriminator=False)
        psi = psi_for(checkpoint.model, samples.images, samples.crops)
        expected = reference_frames(checkpoint.model.generator, samples.images, psi)
        cases[name] = Case(name, checkpoint, samples.images, psi, expected, samples.real)
    return cases


@pytest.fixture(scope="session")
def engine_cache(tmp_path_factory):
    """LIVEAVATAR_CACHE pointed at a session folder, so exported graphs are shared between tests."""
    root = tmp_path_factory.mktemp("engine-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVEAVATAR_CACHE", str(root))
        yield root


def run_frames(engine, images: np.ndarray, psi: np.ndarray) -> np.ndarray:
    return np.concatenate([engine.infer(images[i : i + 1], psi[i : i + 1]) for i in range(len(images))])


def assert_close(frames: np.ndarray, expected: np.ndarray, precision: str, what: str) -> None:
    from liveavatar.engines.graph_writer import frame_difference

    assert frames.shape == expected.shape and frames.dtype == np.uint8, f"{what}: {frames.shape} {frames.dtype}"
    worst, mean = frame_difference(frames, expected)
    max_levels, max_mean = TOLERANCES[precision]
    assert worst <= max_levels and mean <= max_mean, (
        f"{what} ({precision}) differs from PyTorch fp32: max {worst} levels (limit {max_levels}), "
        f"mean {mean:.4f} (limit {max_mean})"
    )
