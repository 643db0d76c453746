"""One frame of the `warp` presets: move the portrait's pixels, paint only what they cannot show.

  warped  = grid_sample(texture, TPS(portrait landmarks → driven landmarks))     (liveavatar/models/warp.py)
  inside  = the driven inner lips' polygon (68-point marks 60–67), filled: where the mouth is open
  rgb, m  = G([landmark image, warped, inside], ψ)  at the paint size, then upsampled to the image size
  output  = m'·warped + (1 − m')·rgb'              m' = (tanh + 1) / 2 of G's 4th channel, times (1 − new);
                                                   rgb' = rgb in the face's own tint as far as the face
                                                   is grey (match_portrait_colour);
                                                   live (render_layers, not training), 1 − m' is scaled by
                                                   how far the warp moved each pixel (motion_gate)
  new     = inside (drawn at the image size, anti-aliased over 3×3 pixels) minus kept, clamped to [0, 1]
  kept    = the portrait's own open mouth (its inner lips' polygon), moved by the same warp, faded out as
            the driven mouth opens past it (1 up to the portrait's own opening, 0 from twice it)

Why a newly opened mouth is forced to G's paint: the warp can only stretch the portrait's lips over a cavity
it never saw (a red smear; the face tracker then reads a closed mouth). Where the portrait's own mouth is
open (a smile showing teeth) the warp does show what is inside, so there G's mask decides, as everywhere
else: forcing it too replaced a smiling portrait's own teeth by a blurred painting at rest. Opened much
wider than the portrait's, though, those teeth are stretched into rings and streaks, so kept fades out.

Why G paints at half size: the warped texture keeps the portrait's detail at full size, and what G adds
(a mouth's inside, eyelids, a mask's soft edge) survives a 2× bilinear upsampling, for a quarter of G's time.

Per avatar (computed once, stored in the avatar file): ψ, the texture (the aligned portrait crop), the
portrait's 68 landmarks in crop pixels and the spline's L⁻¹ (liveavatar.models.warp.tps_inverse). Per frame:
the landmark image and the driven landmarks. engines/warp_graph.py wraps `render_layers` as one graph with
uint8 RGB images at its boundary (as engines.graphs.GeneratorIO does for the paper's G) and exports it; its
flow and paint outputs let liveavatar/render/full_resolution.py move the whole portrait at the output's size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from liveavatar.config import ModelConfig
from liveavatar.models.generator import Generator
from liveavatar.models.warp import TpsWarp


def make_warp(cfg: ModelConfig) -> TpsWarp:
    if cfg.warp is None:
        raise ValueError(f"preset {cfg.preset!r} has no warp; use a warp preset")
    return TpsWarp(cfg.image_size, anchors=cfg.warp.anchors, coarse=cfg.warp.coarse, steps=cfg.warp.newton_steps)


INNER_LIPS = slice(60, 68)  # the 68-point scheme's inner lip contour, clockwise from the left corner


def mouth_inside(driven: torch.Tensor, image_size: int, size: int) -> torch.Tensor:
    """Driven 68-point landmarks (B×68×2, crop pixels of an image_size crop) → B×1×size×size, 1 inside the
    inner lips' polygon (pixel centres, even-odd rule) and 0 outside; all 0 for a closed mouth."""
    return polygon_inside(driven[:, INNER_LIPS], image_size, size)


def polygon_inside(polygon: torch.Tensor, image_size: int, size: int) -> torch.Tensor:
    """A closed polygon (B×N×2, crop pixels of an image_size crop) → B×1×size×size, 1 inside it (pixel
    centres, even-odd rule) and 0 outside.

    Elementwise ops only (no rasteriser), so it runs inside the exported graph from the `driven` input."""
    points = (polygon.float() + 0.5) * (size / image_size) - 0.5  # B×N×2 in this grid's pixels
    x0, y0 = points[..., 0, None, None], points[..., 1, None, None]  # B×N×1×1: edge starts
    nxt = torch.roll(points, -1, dims=1)
    x1, y1 = nxt[..., 0, None, None], nxt[..., 1, None, None]  # edge ends
    c = torch.arange(size, dtype=points.dtype, device=points.device)  # pixel centres (at integers, as the points)
    py, px = c[None, None, :, None], c[None, None, None, :]
    # B×N×size×size: the edge crosses this pixel row. A xor, not `!=`: exported, `!=` of booleans is an Equal
    # of booleans, which TensorRT's ONNX parser does not take (tests/test_tensorrt_ops.py).
    straddles = torch.logical_xor(y0 > py, y1 > py)
    dy = torch.where((y1 - y0).abs() < 1e-6, torch.full_like(y0, 1e-6), y1 - y0)
    crosses = straddles & (px < x0 + (py - y0) * (x1 - x0) / dy)  # a ray to the right crosses the edge
    parity = torch.prod(1 - 2 * crosses.to(points.dtype), dim=1, keepdim=True)  # −1 after an odd count
    return (1 - parity) * 0.5


def warp_portrait(
    warp: TpsWarp,
    texture: torch.Tensor,
    source: torch.Tensor,
    inverse: torch.Tensor,
    driven: torch.Tensor,
    shift: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """texture B×3×S×S, its landmarks `source` B×68×2, the spline's L⁻¹, driven B×68×2 → (warped texture
    B×3×S×S, kept B×1×S×S: the portrait's own open mouth moved by the same warp, 0…1, faded out as the
    driven lips part beyond the portrait's own: 1 up to its opening, 0 from twice it). One grid_sample moves
    both, as four channels. shift: the warp's backward_shift, when the caller has it already.

    The own mouth is anti-aliased exactly as paint() anti-aliases the driven one, so at rest (driven =
    source) the two cancel and nothing of the portrait's own mouth is forced to G's paint."""
    size = texture.shape[-1]
    own = anti_aliased(mouth_inside(source, size, size)).to(texture.dtype)
    if shift is None:
        shift = warp.backward_shift(source, inverse, driven)
    moved, _ = warp.sample(torch.cat([texture, own], dim=1), shift)
    stretch = lip_gap(driven) / lip_gap(source).clamp(min=1e-3)  # B: how many times the portrait's opening
    fade = (2 - stretch).clamp(0, 1).to(moved.dtype)[:, None, None, None]
    return moved[:, :3], moved[:, 3:4] * fade


def anti_aliased(inside: torch.Tensor) -> torch.Tensor:
    """A polygon's B×1×S×S 0/1 fill with its edge anti-aliased over 3×3 pixels."""
    return F.avg_pool2d(inside, 3, stride=1, padding=1, count_include_pad=False)


MOTION_PX = 0.5  # crop pixels the portrait must move for G's own mask to take full effect (motion_gate)


def motion_gate(shift: torch.Tensor, size: int) -> torch.Tensor:
    """Coarse backward shift (B×2×G×G, unit coordinates) → B×1×S×S in [0, 1]: 0 where the warp moves no
    pixel, 1 where it moves them by MOTION_PX crop pixels or more.

    Where nothing moves, the warped texture is the portrait itself and nothing is missing from it; G's mask,
    trained at the paint size, still replaces about 1 % of every pixel by its half-size paint (a faint
    checkered veil), which softens the portrait at rest. Gating it by motion keeps a face that does not move
    the portrait, pixel for pixel, and leaves G's paint wherever the portrait moves."""
    moved = (shift.float() * size).norm(dim=1, keepdim=True)  # B×1×G×G crop pixels
    gate = (moved / MOTION_PX).clamp(0, 1)
    if gate.shape[-1] != size:
        gate = F.interpolate(gate, size=(size, size), mode="bilinear", align_corners=False)
    return gate


def lip_gap(points: torch.Tensor) -> torch.Tensor:
    """B×68×2 → B: the inner lips' mean gap (pairs 61–67, 62–66, 63–65), in the points' pixels."""
    return (points[:, [67, 66, 65]] - points[:, [61, 62, 63]]).float().norm(dim=-1).mean(dim=1)


def paint(
    generator: Generator,
    landmarks: torch.Tensor,
    warped: torch.Tensor,
    driven: torch.Tensor,
    psi: torch.Tensor,
    kept: torch.Tensor | None = None,
    gate: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Landmark images and warped textures (B×3×S×S, [-1, 1]), driven points (B×68×2), ψ (B×L), kept
    (warp_portrait's B×1×S×S, or None: the portrait's mouth is closed), gate (motion_gate's B×1×S×S, or None:
    G's mask everywhere, as in training) → (frame B×3×S×S, mask B×1×S×S: 1 where the frame is the warped
    texture). The one place G meets the warp, for training, fine-tuning, evaluation and the exported graph."""
    rgb, mask = paint_layers(generator, landmarks, warped, driven, psi, kept, gate)
    return mask * warped.float() + (1 - mask) * rgb, mask


def paint_layers(
    generator: Generator,
    landmarks: torch.Tensor,
    warped: torch.Tensor,
    driven: torch.Tensor,
    psi: torch.Tensor,
    kept: torch.Tensor | None = None,
    gate: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """paint()'s two layers before they are mixed: (G's colours B×3×S×S in [-1, 1], desaturated as far as
    the portrait is grey; mask B×1×S×S, 1 where the frame is the warped texture)."""
    size, paint_size = generator.output_size, generator.image_size
    y, w = landmarks, warped.to(landmarks.dtype)
    if paint_size != size:
        # average pooling, not strided sampling: thin landmark lines survive as fainter lines
        y, w = F.avg_pool2d(y, size // paint_size), F.avg_pool2d(w, size // paint_size)
    inputs = [y, w]
    inside = None
    if generator.mouth_inside:
        inside = mouth_inside(driven, size, paint_size).to(y.dtype)
        inputs.append(inside * 2 - 1)
    generated = generator(torch.cat(inputs, dim=1), psi).float()  # B×4×p×p
    mask, rgb = (generated[:, 3:4] + 1) * 0.5, generated[:, :3]
    # At the paint size: a per-pixel linear blend commutes with the bilinear upsampling, on a quarter of the pixels.
    rgb = match_portrait_colour(rgb, w.float(), driven, size)
    if paint_size != size:
        up = F.interpolate(torch.cat([rgb, mask], dim=1), size=(size, size), mode="bilinear", align_corners=False)
        rgb, mask = up[:, :3], up[:, 3:4]
    if gate is not None:
        mask = 1 - (1 - mask) * gate
    if inside is not None:
        # The lips' edge at full size, anti-aliased over 3×3 pixels: the paint-size polygon, upsampled, drew
        # the open mouth's outline as a staircase of 2-pixel steps.
        edge = anti_aliased(mouth_inside(driven, size, size))
        new = edge if kept is None else (edge - kept.float()).clamp(0, 1)
        mask = mask * (1 - new)
    return rgb, mask


# The face's mean chroma (max − min channel, 0…1, inside the jaw-and-brows outline) under which G's paint takes
# the portrait's own tint, and over which it keeps G's colours; a linear blend between. Read as the graph reads
# it on the shared portraits: black-and-white photos and the charcoal drawing 0, the marble head 0.026, the
# Apollo bust 0.076, Einstein's hand-tinted photo 0.105 (G's colours at half strength); every colour face
# 0.149 (Courbet) to 0.48, 0.27 the median. The whole crop read 0.060 on the bust (its white backdrop).
GREY_CHROMA = 0.08
COLOUR_CHROMA = 0.13
TINT_GRID = 32  # the side the face's colour is read at: a mean needs no detail
FACE_OUTLINE = list(range(17)) + list(range(26, 16, -1))  # the jaw, then the brows back: one closed contour


def match_portrait_colour(
    painted: torch.Tensor, warped: torch.Tensor, driven: torch.Tensor, image_size: int
) -> torch.Tensor:
    """Painted RGB (B×3×p×p, [-1, 1]) with the chroma of a grey or tinted portrait: its luma plus the face's
    mean tint as far as the face is grey (a black-and-white photo, a pencil drawing, marble), G's colours as
    far as it is in colour. warped: the warped texture (B×3×q×q, [-1, 1], any size; paint_layers passes the
    one G sees), driven: B×N×2 crop pixels of an image_size crop, the 68-point scheme first (N ≥ 27): where
    the warped face now is.

    G's training people are all in colour (grey episodes only teach it so much): it painted a red mouth on
    black-and-white photos and marble, and a pink smear beside a warm-white bust's lips. The face is read, not
    the whole crop: a bust's crop is mostly background and drapery, a colour photo's may be a grey wall. The
    tint is the face's own (a marble's warmth, a photo's sepia), so a partly grey portrait is never painted
    greyer than it is."""
    factor = max(1, warped.shape[-1] // TINT_GRID)
    # Each pixel's chroma, not the mean colour's: a face painted in strong opposing colours is not grey.
    chroma = (warped.amax(1, keepdim=True) - warped.amin(1, keepdim=True)) / 2  # B×1×q×q, 0…1
    colour = torch.cat([warped, chroma], 1)
    colour = F.avg_pool2d(colour, factor) if factor > 1 else colour
    # The whole crop counts a thousandth as much as the face: what decides when no face is inside (a test's
    # blank landmarks), nothing otherwise.
    weight = polygon_inside(driven[:, FACE_OUTLINE], image_size, colour.shape[-1]).to(colour.dtype) + 1e-3
    mean = (colour * weight).sum(dim=(2, 3)) / weight.sum(dim=(2, 3))  # B×4: the face's mean RGB and chroma
    keep = ((mean[:, 3] - GREY_CHROMA) / (COLOUR_CHROMA - GREY_CHROMA)).clamp(0, 1)[:, None, None, None]
    tint = mean[:, :3] - _luma(mean[:, :3, None, None])[:, :, 0, 0]  # B×3: the face's colour less its luma
    toned = _luma(painted) + tint[:, :, None, None]  # G's light in the face's colour
    return painted - (1 - keep) * (painted - toned)  # exactly G's colours where keep is 1


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    """B×3×H×W → B×1×H×W, Rec. 601 luma."""
    return (rgb * rgb.new_tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)


def render_frame(
    generator: Generator,
    warp: TpsWarp,
    landmarks: torch.Tensor,
    psi: torch.Tensor,
    texture: torch.Tensor,
    source: torch.Tensor,
    inverse: torch.Tensor,
    driven: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """landmark images B×3×S×S, ψ B×L, texture B×3×S×S ([-1, 1]), source B×68×2, L⁻¹ B×n×n, driven B×68×2
    → (frame, warped texture, mask). Batch 1 texture/source/inverse broadcast over B driven frames."""
    layers = render_layers(generator, warp, landmarks, psi, texture, source, inverse, driven)
    return layers.frame, layers.warped, layers.mask


class FrameLayers(NamedTuple):
    """One batch of frames and the layers they are mixed from (S: the crop's side, G: the warp's coarse grid).

    frame  B×3×S×S [-1, 1]: mask·warped + (1 − mask)·rgb, the frame at the crop's size;
    warped B×3×S×S: the texture moved by the spline; mask B×1×S×S: 1 where the frame is `warped`;
    rgb    B×3×S×S: G's paint at the crop's size; shift B×2×G×G: the spline's coarse backward map (unit
    coordinates, warp.backward_shift), which the full-resolution composite applies to the whole portrait."""

    frame: torch.Tensor
    warped: torch.Tensor
    mask: torch.Tensor
    rgb: torch.Tensor
    shift: torch.Tensor


def render_layers(
    generator: Generator,
    warp: TpsWarp,
    landmarks: torch.Tensor,
    psi: torch.Tensor,
    texture: torch.Tensor,
    source: torch.Tensor,
    inverse: torch.Tensor,
    driven: torch.Tensor,
) -> FrameLayers:
    """render_frame with every layer (FrameLayers). Live (unlike training) G's own mask is gated by motion:
    see motion_gate."""
    batch = landmarks.shape[0]
    texture = texture.expand(batch, -1, -1, -1)
    source = source.expand(batch, -1, -1)
    inverse = inverse.expand(batch, -1, -1)
    shift = warp.backward_shift(source, inverse, driven)
    warped, kept = warp_portrait(warp, texture, source, inverse, driven, shift)
    gate = motion_gate(shift, texture.shape[-1])
    rgb, mask = paint_layers(generator, landmarks, warped, driven, psi, kept, gate)
    frame = mask * warped.float() + (1 - mask) * rgb
    return FrameLayers(frame, warped, mask, rgb, shift)
