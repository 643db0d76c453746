"""How real the avatar's open mouth is (issue 20's measures), through the live path's own parts.

    python tools/measure_mouth.py self  [--frames N] [--out FILE.json]
    python tools/measure_mouth.py cross [--portraits N] [--grey] [--frames N] [--out FILE.json]
    python tools/measure_mouth.py detail [--portraits N] [--frames N] [--out FILE.json]
    python tools/measure_mouth.py sheet [--out docs/driver_mouth.jpg]
    python tools/measure_mouth.py creases-sheet [--out docs/creases.jpg]

Every variant runs what `run` runs: mediapipe on the clip's frames, the Processor (relative mode, adaptive
mouth rest), the bundled model's frame graph on ONNX Runtime and the Composer at full resolution:
  creases  what ships: the driver's creases since the neutral laid on the face (liveavatar.render.creases) and
         the driver's own mouth laid in (liveavatar.render.driver_mouth);
  mouth  the driver's own mouth alone (the path before the creases);
  model  G paints the inside (`--no-driver-mouth`, the path before this change);
  warp   the spline alone (G's paint left out);
  still  the portrait held still (self only);
  real_lips  "creases" with the real frame's outer-lip polygon (its lips and all inside) pasted in (self only):
         a bound on what any rendering of the lips could score, the skin around them left as "creases" has it.

self:  self-reenactment on the 14 held-out people of the bundled model's split (its MODEL_CARD names them):
       each clip's first frame is the portrait, each later frame's own landmarks drive it (as `eval` does),
       the output has the portrait's own size;
       every frame composed in order (one Composer per variant, as the compose thread); at the 8 frames where
       the real mouth is most open (from frame 10 on: past the neutral's capture), the mouth box (the real
       frame's outer lips grown by a quarter of their width) of the output against the real frame: SSIM
       (grey, 7-px Gaussian window) and L1 (RGB / 255). Clips whose mouth never opens wider than 0.05 eye
       distances are left out (nothing to compare).
cross: portraits × the 4 held-out clips that talk (the model card's cross-reenactment drivers), 32 frames at
       stride 2 (the first NEUTRAL_FRAMES, the neutral's capture, left out of r and range), 1280×720; the
       inner-lip opening per eye distance on driver and output, by mediapipe and by dlib's 68 points each:
       Pearson r over time and the output's 5–95 % range over the driver's, medians per kind (photo,
       painting, statue); and on the grey portraits the mean chroma (Lab a, b magnitude) inside the output's
       inner lips at its most open frames over the face's (the face's floored at CHROMA_FLOOR); --grey
       measures the GREY portraits alone. Also the retargeted points' own opening against the driver's: the
       ceiling the rendering works under.
detail: portraits × the 4 talking clips, at the driver's 4 widest frames past the neutral's: how sharp the
       laid mouth is against the lips and skin around it (liveavatar.render.driver_mouth.detail inside the
       inner lips over the same in the ring around them) on the output, over the same on the driver's own
       frame; 1: the mouth keeps its driver's relative sharpness in the portrait. Medians per kind, and the
       median |log2| of the ratio (0 = matched, 1 = twice or half as sharp).
sheet: public-domain portraits at the driver's widest-mouth frames, G's mouth above what ships (driver frames
       of real people stay out of the repo: only the outputs are shown).
creases-sheet: the same portraits and frames, wider around the mouth: the driver's mouth alone above it with
       the driver's creases (liveavatar.render.creases).
Needs dlib (`pip install -e '.[eval]'`) and ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
HELD_OUT = (  # liveavatar/assets/MODEL_CARD.md: the bundled model's 14 held-out people
    "aniportrait_theresa_may",
    "dreamtalk_mead_w011_woman",
    "edtalk_obama",
    "followyouremoji_asian_man_grimace",
    "fsgan_conan_obrien",
    "grid_man_black_tshirt_sbia1a",
    "grid_woman_pink_top_lbbc2a",
    "lp_d0_man_greenscreen",
    "lp_s32_blonde_woman_coat",
    "pcavs_vox_david_beckham",
    "spectre_lrs3_ted_man_qot0s2vu9m4",
    "styletalk_angry_man",
    "styletalk_happy_woman_2",
    "w2lgfpgan_kim_blonde_woman",
)
TALKING = ("aniportrait_theresa_may", "dreamtalk_mead_w011_woman", "lp_d0_man_greenscreen", "styletalk_happy_woman_2")
CROSS_PORTRAITS = (
    "photo_barack_obama.jpg",
    "photo_audrey_hepburn.jpg",
    "photo_grace_hopper.jpg",
    "photo_elizabeth_olsen.jpg",
    "photo_bob_dylan_bw.jpg",
    "photo_albert_einstein.jpg",
    "painting_mona_lisa.jpg",
    "painting_girl_with_a_pearl_earring.jpg",
    "painting_van_gogh_self_portrait_1889.jpg",
    "painting_sargent_lady_agnew.jpg",
    "painting_ducreux_self_portrait.jpg",
    "painting_courbet_desperate_man.jpg",
    "statue_marble_head.jpg",
    "statue_apollo_bust.png",
    "drawing_sketch_woman.jpg",
)
GREY = ("photo_audrey_hepburn.jpg", "photo_bob_dylan_bw.jpg", "photo_albert_einstein.jpg", "statue_marble_head.jpg")
GREY += ("statue_apollo_bust.png", "drawing_sketch_woman.jpg")
SHEET = (  # public-domain works or public-domain photos (MANIFEST.tsv)
    "painting_mona_lisa.jpg",
    "painting_girl_with_a_pearl_earring.jpg",
    "painting_van_gogh_self_portrait_1889.jpg",
    "painting_ducreux_self_portrait.jpg",
    "painting_courbet_desperate_man.jpg",
    "painting_sargent_lady_agnew.jpg",
    "photo_grace_hopper.jpg",
    "photo_eileen_collins_astronaut.png",
)
VARIANTS = ("creases", "mouth", "model", "warp")
SELF_ONLY = ("still", "real_lips")
OUTPUT_SIZE = (1280, 720)
MOST_OPEN = 8
# Lab chroma under which a colour cannot be told from grey (a just-noticeable difference is ~2.3): the grey
# portraits' faces measure 0.02–1.5, so a bare ratio would compare invisible tints
CHROMA_FLOOR = 1.0
STRIDE = 2  # cross: every other frame, 32 of them ~2 s (the model card's cross-reenactment)
# cross: the first frames are the neutral's capture (TrackingConfig.neutral_frames), when the avatar holds its
# rest whatever the driver does; they are left out of r and range, as the self-reenactment and
# tools/measure_eyes.py leave them out (a session captures its neutral once, not every two seconds).
NEUTRAL_FRAMES = 5


def find_clip(stem: str) -> Path:
    found = sorted((SHARED / "driving").glob(stem + ".*"))
    if not found:
        raise SystemExit(f"{stem} is not in {SHARED / 'driving'}")
    return found[0]


def opening(points: np.ndarray) -> float:
    """Inner-lip gap (mean of the 3 facing pairs) per outer-eye-corner distance, 68-point layout."""
    p = np.asarray(points, np.float64)[:, :2]
    gap = np.mean(np.linalg.norm(p[[61, 62, 63]] - p[[67, 66, 65]], axis=1))
    return float(gap / max(np.linalg.norm(p[36] - p[45]), 1e-6))


class Model:
    """The bundled model on ONNX Runtime and the live path's parts, one avatar at a time."""

    def __init__(self) -> None:
        from liveavatar.engines.registry import create_engine
        from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

        self.checkpoint = open_checkpoint(resolve_checkpoint(None))
        self.engine = create_engine("onnxruntime", self.checkpoint).engine
        self.size = self.checkpoint.config.image_size

    def avatar(self, portrait: Path):
        from liveavatar.avatar import warp_avatar_of
        from liveavatar.engines.embedder import build_avatar

        avatar = build_avatar([portrait], self.checkpoint)
        return avatar, warp_avatar_of(avatar, self.checkpoint)

    def drive(self, avatar, frames: list[np.ndarray], fps: float = 30.0) -> list:
        """The Processor over a clip's frames (H×W×3 uint8 RGB, `fps` of them a second): each frame's Driven."""
        from liveavatar.live.spec import TrackingConfig
        from liveavatar.pipeline.stages import Processor

        processor = Processor(TrackingConfig(), self.size)
        try:
            return [processor.process(f, None, i / fps, avatar, "relative")[0] for i, f in enumerate(frames)]
        finally:
            processor.close()

    def layers(self, avatar, warp, driven):
        """The frame graph's output for one Driven (WarpLayers)."""
        psi = avatar.psi[None].astype(np.float32)
        return self.engine.infer_layers(driven.landmark_image[None], psi, warp, driven.control[None])

    def render(self, composer, avatar, warp, driven, image: np.ndarray, variant: str, layers=None) -> np.ndarray:
        """One output frame (H×W×3 uint8 RGB, no AI mark) as the compose thread makes it (`layers`: the frame
        graph's output for `driven`, when already inferred)."""
        from liveavatar.live.spec import Background
        from liveavatar.render.driver_mouth import DriverFrame
        from liveavatar.types import WarpLayers

        if layers is None:
            layers = self.layers(avatar, warp, driven)
        if variant == "warp":
            paint = layers.paint.copy()
            paint[..., 3] = 0
            layers = WarpLayers(layers.frames, layers.flow, paint)
        mouth = change = None
        if variant in ("creases", "mouth") and driven.driver_now is not None:
            mouth = DriverFrame(image, driven.driver_now)
            if variant == "creases" and driven.neutral_frame is not None:
                change = (driven.neutral_frame, mouth)
        return composer.compose(
            layers.frames[0],
            avatar,
            Background(),
            False,
            False,
            layers,
            mouth,
            driven.points,
            driven.control[68:],
            change,
        )


def on_real_landmarks(driven, avatar, size: int):
    """A Driven whose points are the real frame's own landmarks in the avatar's crop, as `eval`'s self-reenactment
    draws them: the mouth is compared where the real one is, whatever retargeting would have made of it (with
    the first frame as the portrait, mid-sentence, the relative mode's mouth rest is that frame's opening)."""
    from dataclasses import replace

    from liveavatar.landmarks.irises import spline_driven
    from liveavatar.render.rasterize import rasterize_landmarks

    matrix = np.asarray(avatar.crop_matrix, np.float64)  # portrait (= the clip's frame) pixels → crop pixels
    points = (driven.driver_now @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    control = spline_driven(points, None, avatar.landmarks, avatar.irises)  # the irises carried by their eyes
    return replace(driven, points=points, landmark_image=rasterize_landmarks(points, size), control=control)


def clip_fps(path: Path) -> float:
    from liveavatar.training.cross_eval import clip_fps as fps_of  # the evaluation's own (torch is here anyway)

    return fps_of(path)


def read_frames(path: Path, count: int, stride: int = 1) -> list[np.ndarray]:
    from liveavatar.training.cross_eval import read_clip  # the evaluation's own reader (torch is here anyway)

    return read_clip(path, count, stride)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two grey float64 images (Wang et al. 2004; Gaussian window σ 1.5, 7 px)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (7, 7), 1.5)

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    value = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(value.mean())


def self_reenactment(frames_per_clip: int) -> dict:
    from liveavatar.pipeline.stages import Composer

    model = Model()
    rows = []
    for stem in tqdm(HELD_OUT, desc="held-out clips", unit="clip"):
        frames = read_frames(find_clip(stem), frames_per_clip)
        with tempfile.TemporaryDirectory() as tmp:
            first = Path(tmp) / "first.png"
            cv2.imwrite(str(first), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
            avatar, warp = model.avatar(first)
        h, w = frames[0].shape[:2]
        if avatar.portrait.shape[:2] != (h, w):
            rows.append({"clip": stem, "skipped": "the portrait was stored at another size"})
            continue
        drives = model.drive(avatar, frames)
        real = [(opening(d.driver_now), i) for i, d in enumerate(drives) if i >= 10 and d.driver_now is not None]
        real.sort(reverse=True)
        if not real or real[0][0] < 0.05:
            rows.append({"clip": stem, "skipped": "the mouth never opens (widest 0.05 eye distances or less)"})
            continue
        # one Composer per variant, fed every frame in order up to the last scored one, as the compose thread is:
        # it keeps state between frames (the driver's mouth's running softness, the neutral's creases), and fed
        # only the widest frames, widest first and shared by the variants, it judged them on other frames than
        # live. The output is the portrait's own frame: boxes line up with the real frame.
        composers = {v: Composer(w, h) for v in VARIANTS}
        scored = {i for _, i in real[:MOST_OPEN]}
        scores: dict[str, list[tuple[float, float]]] = {v: [] for v in (*VARIANTS, *SELF_ONLY)}
        for i in range(max(scored) + 1):
            if drives[i].driver_now is None:
                continue  # no face tracked: no real landmarks to draw it on
            d = on_real_landmarks(drives[i], avatar, model.size)
            layers = model.layers(avatar, warp, d)
            outputs = {v: model.render(composers[v], avatar, warp, d, frames[i], v, layers) for v in VARIANTS}
            if i not in scored:
                continue
            lips = d.driver_now[48:60]
            grow = 0.25 * float(np.ptp(lips[:, 0]))
            x0, y0 = (max(0, int(v - grow)) for v in lips.min(0))
            x1, y1 = (int(v + grow) + 1 for v in lips.max(0))
            truth = frames[i][y0:y1, x0:x1]
            outputs["still"] = avatar.portrait
            lips = np.zeros((h, w), np.uint8)
            cv2.fillPoly(lips, [np.rint(d.driver_now[48:60]).astype(np.int32)], (1,))
            outputs["real_lips"] = np.where(lips[..., None] > 0, frames[i], outputs["creases"])
            for v, out in outputs.items():
                box = out[y0:y1, x0:x1]
                grey_a, grey_b = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float64) for x in (box, truth))
                l1 = float(np.abs(box.astype(np.float64) - truth).mean() / 255)
                scores[v].append((ssim(grey_a, grey_b), l1))
        row = {"clip": stem, "widest": round(real[0][0], 3)}
        for v, values in scores.items():
            row[v] = {"ssim": float(np.mean([s for s, _ in values])), "l1": float(np.mean([e for _, e in values]))}
        rows.append(row)
        tqdm.write(json.dumps(row))
    used = [r for r in rows if "skipped" not in r]
    summary = {
        v: {
            "ssim_mean": float(np.mean([r[v]["ssim"] for r in used])),
            "ssim_median": float(np.median([r[v]["ssim"] for r in used])),
            "l1_mean": float(np.mean([r[v]["l1"] for r in used])),
        }
        for v in (*VARIANTS, *SELF_ONLY)
    }
    model.engine.close()
    return {"clips": rows, "summary": summary}


class Trackers:
    """The inner-lip opening per eye distance of an image's largest face, by mediapipe and by dlib (68)."""

    def __init__(self) -> None:
        from liveavatar.training.identity import DlibLandmarks

        self._dlib = DlibLandmarks()

    def mediapipe(self, image: np.ndarray) -> float | None:
        from liveavatar.landmarks.tracker import FaceTracker

        if not hasattr(self, "_mesh"):
            self._mesh = FaceTracker("image", max_faces=1)  # one per run: each frame on its own (image mode)
        landmarks = self._mesh.track(image).landmarks
        return None if landmarks is None else opening(landmarks.points68)

    def dlib(self, image: np.ndarray) -> float | None:
        points = self._dlib(image)
        return None if points is None else opening(points)


def follow(driver: list[float | None], output: list[float | None]) -> dict:
    """r and range of the output's opening against the driver's, past the neutral's capture."""
    pairs = [(a, b) for a, b in zip(driver, output, strict=True)][NEUTRAL_FRAMES:]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    if len(pairs) < 8:
        return {"r": None, "range": None, "frames": len(pairs)}
    a, b = np.array(pairs).T

    def spread(x: np.ndarray) -> float:
        return float(np.percentile(x, 95) - np.percentile(x, 5))

    r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else None
    return {"r": r, "range": spread(b) / max(spread(a), 1e-6), "frames": len(pairs)}


def mouth_chroma(output: np.ndarray, points_out: np.ndarray) -> tuple[float, float] | None:
    """Mean Lab chroma inside the output's inner lips (shrunk by 1 px) and over the face's hull less the mouth."""
    lab = cv2.cvtColor(output.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    mouth = np.zeros(output.shape[:2], np.uint8)
    cv2.fillPoly(mouth, [np.rint(points_out[60:68]).astype(np.int32)], (255,))
    mouth = cv2.erode(mouth, np.ones((3, 3), np.uint8))
    face = np.zeros_like(mouth)
    cv2.fillPoly(face, [cv2.convexHull(np.rint(points_out[:27]).astype(np.int32))], (255,))
    face[cv2.dilate(mouth, np.ones((9, 9), np.uint8)) > 0] = 0
    if mouth.sum() < 20 * 255:
        return None
    return float(chroma[mouth > 0].mean()), float(chroma[face > 0].mean())


def cross_reenactment(portrait_limit: int, frames: int, portraits: Sequence[str] = CROSS_PORTRAITS) -> dict:
    from liveavatar.pipeline.stages import Composer

    model, trackers = Model(), Trackers()
    clips = {stem: read_frames(find_clip(stem), frames, stride=STRIDE) for stem in TALKING}
    fps = {stem: clip_fps(find_clip(stem)) / STRIDE for stem in TALKING}
    # the driver by mediapipe as the live path tracks it (video mode: the Processor's own points of each frame),
    # by dlib frame by frame
    driver = {}
    for stem, fs in tqdm(clips.items(), desc="drivers", unit="clip"):
        tracked = Model.drive(model, model.avatar(SHARED / "portraits" / portraits[0])[0], fs, fps[stem])
        driver[stem] = {
            "mediapipe": [None if d.driver_now is None else opening(d.driver_now) for d in tracked],
            "dlib": [trackers.dlib(f) for f in fs],
        }
    rows = []
    for name in tqdm(portraits[:portrait_limit], desc="portraits", unit="portrait"):
        avatar, warp = model.avatar(SHARED / "portraits" / name)
        for stem, fs in clips.items():
            composer = Composer(*OUTPUT_SIZE)
            drives = model.drive(avatar, fs, fps[stem])
            row: dict = {"portrait": name, "clip": stem}
            # the ceiling the rendering works under: what the retargeted points ask for, against the driver
            row["driven_points_mediapipe"] = follow(driver[stem]["mediapipe"], [opening(d.points) for d in drives])
            widest = sorted(range(len(fs)), key=lambda k: -(driver[stem]["mediapipe"][k] or 0))[:4]
            for v in ("creases", "mouth", "model"):
                outs = [model.render(composer, avatar, warp, d, f, v) for d, f in zip(drives, fs, strict=True)]
                for tracker in ("mediapipe", "dlib"):
                    measured = [getattr(trackers, tracker)(o) for o in outs]
                    row[f"{v}_{tracker}"] = follow(driver[stem][tracker], measured)
                if name in GREY:
                    to_output = crop_to_output(composer)
                    values = []
                    for k in widest:
                        p = drives[k].points @ to_output[:, :2].T + to_output[:, 2]
                        c = mouth_chroma(outs[k], p)
                        if c is not None:
                            values.append(c)
                    if values:
                        mouth, face = np.median(values, axis=0)
                        row[f"{v}_grey_chroma"] = {"mouth": float(mouth), "face": float(face)}
                        row[f"{v}_grey_chroma_ratio"] = float(mouth / max(face, CHROMA_FLOOR))
            rows.append(row)
            tqdm.write(json.dumps(row))
    model.engine.close()
    return {"pairs": rows, "summary": summarise_cross(rows)}


def crop_to_output(composer) -> np.ndarray:
    """The 2×3 crop → output pixel map of the composer's one avatar (after it has rendered a frame)."""
    (_, warp), *_ = composer._warps.values()
    return warp.from_crop


def kind(name: str) -> str:
    return name.split("_", 1)[0]


def summarise_cross(rows: list[dict]) -> dict:
    out: dict = {}
    for k in sorted({kind(r["portrait"]) for r in rows}) + ["all"]:
        chosen = [r for r in rows if k == "all" or kind(r["portrait"]) == k]
        entry = {"pairs": len(chosen)}
        for measure in ("r", "range"):
            values = [r["driven_points_mediapipe"][measure] for r in chosen]
            values = [x for x in values if x is not None]
            entry[f"driven_points_{measure}"] = float(np.median(values)) if values else None
        for v in ("creases", "mouth", "model"):
            for tracker in ("mediapipe", "dlib"):
                for measure in ("r", "range"):
                    values = [r[f"{v}_{tracker}"][measure] for r in chosen]
                    values = [x for x in values if x is not None]
                    entry[f"{v}_{tracker}_{measure}"] = float(np.median(values)) if values else None
            grey = [r.get(f"{v}_grey_chroma_ratio") for r in chosen]
            grey = [x for x in grey if x is not None]
            if grey:
                entry[f"{v}_grey_chroma_ratio_max"] = float(np.max(grey))
                entry[f"{v}_grey_chroma_ratio_median"] = float(np.median(grey))
        out[k] = entry
    return out


def relative_detail(image: np.ndarray, points: np.ndarray) -> float | None:
    """Detail inside a mouth's inner lips over detail in the lips-and-skin ring around them (68×2 points in
    the RGB image's pixels), or None where either is empty or flat."""
    from liveavatar.render.driver_mouth import INNER_LIP, detail, ring_box

    box = ring_box(points, (0, 0, image.shape[1], image.shape[0]))
    if box is None:
        return None
    x0, y0, x1, y1 = box
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(inside, [np.rint(np.asarray(points)[INNER_LIP] - (x0, y0)).astype(np.int32)], (1,))
    if inside.sum() < 20:
        return None
    part = np.ascontiguousarray(image[y0:y1, x0:x1])
    ring = detail(part, 1 - inside)
    return detail(part, inside) / ring if ring > 1e-3 else None


def detail_match(portrait_limit: int, frames: int) -> dict:
    from liveavatar.pipeline.stages import Composer

    model = Model()
    clips = {stem: read_frames(find_clip(stem), frames, stride=STRIDE) for stem in TALKING}
    fps = {stem: clip_fps(find_clip(stem)) / STRIDE for stem in TALKING}
    rows = []
    for name in tqdm(CROSS_PORTRAITS[:portrait_limit], desc="portraits", unit="portrait"):
        avatar, warp = model.avatar(SHARED / "portraits" / name)
        for stem, fs in clips.items():
            composer = Composer(*OUTPUT_SIZE)
            drives = model.drive(avatar, fs, fps[stem])
            open_ = [(opening(d.driver_now), k) for k, d in enumerate(drives) if d.driver_now is not None]
            ratios = []
            for _, k in sorted(o for o in open_ if o[1] >= NEUTRAL_FRAMES)[::-1][:4]:
                out = model.render(composer, avatar, warp, drives[k], fs[k], "creases")
                to_output = crop_to_output(composer)
                on_output = relative_detail(out, drives[k].points @ to_output[:, :2].T + to_output[:, 2])
                on_driver = relative_detail(fs[k], drives[k].driver_now)
                if on_output is not None and on_driver is not None:
                    ratios.append(on_output / on_driver)
            if ratios:
                rows.append({"portrait": name, "clip": stem, "ratio": float(np.median(ratios))})
                tqdm.write(json.dumps(rows[-1]))
    model.engine.close()
    summary = {}
    for k in sorted({kind(r["portrait"]) for r in rows}) + ["all"]:
        chosen = [r["ratio"] for r in rows if k == "all" or kind(r["portrait"]) == k]
        summary[k] = {
            "pairs": len(chosen),
            "ratio_median": float(np.median(chosen)),
            "abs_log2_median": float(np.median(np.abs(np.log2(chosen)))),
        }
    return {"pairs": rows, "summary": summary}


# per sheet: the variants in its rows (top first), the crop's half width in mouth widths, the tile's size
# (width, height; the crop is 4:3), what the rows show
SHEETS = {
    "sheet": (
        ("model", "creases"),
        1.1,
        (256, 192),
        "top row G paints the mouth, bottom row what ships: the driver's own mouth and creases",
    ),
    "creases-sheet": (
        ("mouth", "creases"),
        1.7,
        (384, 288),
        "top row the driver's mouth alone, bottom row with the driver's creases",
    ),
}


def sheet(out: Path, kind: str = "sheet") -> None:
    from liveavatar.pipeline.stages import Composer

    variants, width, tile, rows = SHEETS[kind]
    model = Model()
    frames = read_frames(find_clip("lp_d0_man_greenscreen"), 78)
    tiles = []
    for name in tqdm(SHEET, desc="portraits", unit="portrait"):
        avatar, warp = model.avatar(SHARED / "portraits" / name)
        drives = model.drive(avatar, frames)
        widest = max(
            range(10, len(frames)),
            key=lambda k: opening(drives[k].driver_now) if drives[k].driver_now is not None else 0,
        )
        composer = Composer(*OUTPUT_SIZE)
        d = drives[widest]
        images = {v: model.render(composer, avatar, warp, d, frames[widest], v) for v in variants}
        grid = crop_to_output(composer)
        p = d.points @ grid[:, :2].T + grid[:, 2]
        centre = p[48:68].mean(0)
        half = width * float(np.ptp(p[48:60, 0]))
        x0, y0 = int(centre[0] - half), int(centre[1] - 0.75 * half)
        pair = []
        for image in images.values():
            pair.append(cv2.resize(image[y0 : y0 + int(1.5 * half), x0 : x0 + int(2 * half)], tile))
        tiles.append(np.vstack(pair))
    model.engine.close()
    grid_image = np.hstack(tiles)
    cv2.imwrite(str(out), cv2.cvtColor(grid_image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {out}: {rows}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("self", "cross", "detail", *SHEETS))
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (self 90, cross 32)")
    parser.add_argument("--portraits", type=int, default=len(CROSS_PORTRAITS), help="cross: first N portraits")
    parser.add_argument("--grey", action="store_true", help="cross: the grey portraits (GREY) instead")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not (SHARED / "MANIFEST.tsv").is_file():
        print(f"{SHARED} is absent: these measures need the shared clips and portraits", file=sys.stderr)
        return 2
    if args.what in SHEETS:
        default = "driver_mouth.jpg" if args.what == "sheet" else "creases.jpg"
        sheet(args.out or ROOT / "docs" / default, args.what)
        return 0
    if args.what == "self":
        report = self_reenactment(args.frames or 90)
    elif args.what == "detail":
        report = detail_match(args.portraits, args.frames or 32)
    else:
        report = cross_reenactment(args.portraits, args.frames or 32, GREY if args.grey else CROSS_PORTRAITS)
    print_and_save(report, args.out)
    return 0


def print_and_save(report: dict, out: Path | None) -> None:
    """Prints a report's summary and, given a path, writes the whole report there as JSON."""
    print(json.dumps(report["summary"], indent=2))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
