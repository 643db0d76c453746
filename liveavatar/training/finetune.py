"""Few-shot fine-tuning (Zakharov et al. 2019, §3.4): a meta-learned model adapted to one new person.

Given K frames of the person and their landmark images: ψ′ starts at P·ê (ê = E over the K frames), the
discriminator's person vector w′ at w0 + ê, and G (with ψ′) and D (with w′) are trained on the K frames:
G minimises L_CNT + L_ADV (hinge, feature matching), D the hinge loss. W of the meta-learning videos and
the embedder are not used any more. Each step uses all K frames, so the result depends on nothing random.

The output is ψ′ and the fine-tuned generator's weights (spectral norm folded, the keys of a loaded
checkpoint's generator), which an Avatar carries (Avatar.generator_weights) and engines load.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from liveavatar.models.blocks import folded_state_dict
from liveavatar.models.checkpoint import Checkpoint
from liveavatar.models.discriminator import Discriminator
from liveavatar.models.tensors import to_tensor
from liveavatar.models.warp import tps_inverse_torch
from liveavatar.models.warp_head import paint, warp_portrait
from liveavatar.training.losses import ContentLoss, LossWeights, feature_matching, hinge_d

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class FinetuneSettings:
    steps: int = 100
    lr_g: float = 5e-5  # G and ψ′ (the paper's meta-learning rate)
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weights: LossWeights = field(default_factory=LossWeights)


@dataclass
class FinetuneResult:
    psi: np.ndarray  # L float32: ψ′
    generator_weights: dict[str, torch.Tensor]  # folded G state dict
    history: list[dict[str, float]]  # per step: content, adv, fm, loss_d (when D is used)
    used_discriminator: bool


def find_discriminator(checkpoint: Checkpoint, path: Path | None) -> Discriminator | None:
    """D for fine-tuning: the checkpoint's own, else the given or sibling `_discriminator` file, else None."""
    from liveavatar.training.shipping import discriminator_path_for, load_discriminator

    if checkpoint.model.discriminator is not None:
        return copy.deepcopy(checkpoint.model.discriminator)
    candidate = path or (discriminator_path_for(checkpoint.path) if checkpoint.path else None)
    if candidate is not None and (path is not None or candidate.is_file()):
        return load_discriminator(candidate, checkpoint, spectral=True)
    return None


def finetune(
    checkpoint: Checkpoint,
    frames: np.ndarray,
    landmark_images: np.ndarray,
    settings: FinetuneSettings,
    discriminator: Discriminator | None = None,
    content: ContentLoss | None = None,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    points: np.ndarray | None = None,
) -> FinetuneResult:
    """frames, landmark_images: K×S×S×3 uint8 RGB at the model's size; points: their K×68×2 landmarks (crop
    pixels), needed by warp presets, whose G sees the first frame warped to each shot's landmarks. The
    checkpoint's weights are not changed (its E and P are only moved to `device`); load it with
    spectral=True so G and D keep spectral norm while they train, as in meta-learning."""
    report = progress or (lambda what, fraction: None)
    device = torch.device(device)
    model = checkpoint.model
    w = settings.weights
    content = (content or ContentLoss(w)).to(device)
    x = to_tensor(frames, device)  # K×3×S×S
    y = to_tensor(landmark_images, device)
    generator = copy.deepcopy(model.generator).to(device).train()
    with torch.no_grad():
        e_hat = model.embedder.to(device).eval()(x[None], y[None])  # 1×512
        psi0 = model.projection.to(device)(e_hat)  # 1×L
    psi = torch.nn.Parameter(psi0.clone())
    opt_g = torch.optim.Adam([*generator.parameters(), psi], lr=settings.lr_g, betas=settings.betas)
    disc = opt_d = w_prime = None
    if discriminator is not None:
        disc = discriminator.to(device).train()
        w_prime = torch.nn.Parameter((disc.w0.detach() + e_hat[0]).clone())  # w′ = w0 + ê
        d_params = [*disc.trunk.parameters(), *disc.final.parameters(), *disc.to_embedding.parameters(), disc.b]
        opt_d = torch.optim.Adam([*d_params, w_prime], lr=settings.lr_d, betas=settings.betas)
    history: list[dict[str, float]] = []
    k = len(x)
    warped = None
    if model.warp is not None:
        if points is None:
            raise ValueError("warp presets fine-tune with the shots' landmarks (points=)")
        cfg = model.config
        p = torch.from_numpy(np.asarray(points, np.float32)).to(device)  # K×68×2
        with torch.no_grad():
            inverse = tps_inverse_torch(p[:1], cfg.image_size, cfg.warp.anchors, cfg.warp.regularization)
            warped, kept = warp_portrait(
                model.warp, x[:1].expand(k, -1, -1, -1), p[:1].expand(k, -1, -1), inverse.expand(k, -1, -1), p
            )
    for step in range(settings.steps):
        if warped is None:
            fake = generator(y, psi.expand(k, -1))  # K×3×S×S
        else:
            fake, _ = paint(generator, y, warped, p, psi.expand(k, -1), kept)
        loss, parts = content(fake, x)
        row = {"content": float(loss.detach())}
        if disc is not None:
            disc.requires_grad_(False)
            v_fake, fake_feats = disc.features(fake, y)
            with torch.no_grad():
                _, real_feats = disc.features(x, y)
            adv = -disc.score_with(v_fake, w_prime.expand(k, -1)).mean()
            fm = feature_matching(real_feats, fake_feats)
            loss = loss + adv + w.fm * fm
            row.update(adv=float(adv.detach()), fm=float(fm.detach()))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        if disc is not None:
            disc.requires_grad_(True)
            v_real, _ = disc.features(x, y)
            v_fake, _ = disc.features(fake.detach(), y)
            wk = w_prime.expand(k, -1)
            loss_d = hinge_d(disc.score_with(v_real, wk), disc.score_with(v_fake, wk))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            row["loss_d"] = float(loss_d.detach())
        history.append(row)
        report(f"fine-tuning step {step + 1}/{settings.steps}", (step + 1) / max(settings.steps, 1))
    weights = {key: value.detach().cpu().clone() for key, value in folded_state_dict(generator).items()}
    return FinetuneResult(psi.detach()[0].float().cpu().numpy(), weights, history, disc is not None)


def finetune_summary(result: FinetuneResult, settings: FinetuneSettings, k: int) -> dict[str, Any]:
    first, last = result.history[0] if result.history else {}, result.history[-1] if result.history else {}
    return {
        "steps": settings.steps,
        "shots": k,
        "discriminator": result.used_discriminator,
        "content_first": first.get("content"),
        "content_last": last.get("content"),
    }


def portrait_shots(paths: list[Path], size: int) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Portraits → (K×S×S×3 uint8 RGB crops, K×S×S×3 landmark images, tracker notes, K×68×2 crop landmarks),
    cropped like avatars."""
    from liveavatar.avatar import prepare_portrait
    from liveavatar.render.rasterize import rasterize_landmarks

    crops, marks, notes, all_points = [], [], [], []
    for path in paths:
        _, _, crop, points, note = prepare_portrait(path, size)
        crops.append(crop)
        marks.append(rasterize_landmarks(points, size))
        notes.append(note)
        all_points.append(points)
    return np.stack(crops), np.stack(marks), notes, np.stack(all_points)
