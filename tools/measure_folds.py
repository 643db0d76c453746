"""Where the spline's backward map folds, and what unfolding it costs (liveavatar.render.unfold).

    python tools/measure_folds.py report [--frames N] [--out FILE.json]
    python tools/measure_folds.py sheet  [--out docs/unfold.jpg]

report: the 15 portraits of tools/measure_mouth.py's cross-reenactment × its 4 held-out talking clips, N frames
        each at stride 2 (the first NEUTRAL_FRAMES, the neutral's capture, left out): the bundled frame graph on
        ONNX Runtime through the Processor, as `run` drives it. Per portrait the frames whose map folds, and
        over all of them how many fills `unfold` needed (none where the map folds only inside the driven
        opening, which the driver's mouth or G's paint covers), how many grid points it refilled, whether any still
        folds after, and its time (a fold's frame, and a sound one).
sheet:  public-domain paintings, 1280×720, at each one's most folded talking frame (the most grid points
        refilled) and at WIDE_OPEN's widest mouth, each as the graph's map gave it and unfolded. Only the
        outputs are shown: driver frames of real people stay out of the repo.
Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import measure_mouth as mm  # tools/ is on the path when run as a script
import numpy as np
from tqdm import tqdm

WIDE_OPEN = "lp_d18_man_mouth_open"  # a driver who opens as wide as a mouth goes (the model card's example)
SHEET = (  # public-domain works (MANIFEST.tsv)
    "painting_girl_with_a_pearl_earring.jpg",
    "painting_mona_lisa.jpg",
    "painting_sargent_lady_agnew.jpg",
    "painting_van_gogh_self_portrait_1889.jpg",
)


def flows(model, name: str, frames: int, clips: tuple[str, ...] = mm.TALKING):
    """(avatar, warp, [(clip, frame index, Driven, RGB frame, WarpLayers)]) for one portrait over the clips."""
    avatar, warp = model.avatar(mm.SHARED / "portraits" / name)
    psi = avatar.psi[None].astype(np.float32)
    out = []
    for stem in clips:
        fs = mm.read_frames(mm.find_clip(stem), frames, stride=mm.STRIDE)
        drives = model.drive(avatar, fs, mm.clip_fps(mm.find_clip(stem)) / mm.STRIDE)
        for k, d in enumerate(drives):
            if k >= mm.NEUTRAL_FRAMES:
                layers = model.engine.infer_layers(d.landmark_image[None], psi, warp, d.control[None])
                out.append((stem, k, d, fs[k], layers))
    return avatar, warp, out


def refilled_points(flow: np.ndarray, size: int) -> int:
    """How many of a G×G×2 map's grid points `unfold` refills (the patch: pins do not change its size)."""
    from liveavatar.render.unfold import unfold

    return int(np.any(unfold(flow, size) != flow, axis=-1).sum())


def report(frames: int) -> dict:
    import liveavatar.render.unfold as unfolding
    from liveavatar.render.driver_mouth import INNER_LIP

    fills = [0]
    fill = unfolding._harmonic_fill

    def counted(*args):  # counts the rounds `unfold` takes, the fill itself unchanged
        fills[0] += 1
        return fill(*args)

    unfolding._harmonic_fill = counted
    model = mm.Model()
    rows, rounds, refilled, still, times_fold, times_sound = [], {}, [], 0, [], []
    for name in tqdm(mm.CROSS_PORTRAITS, desc="portraits", unit="portrait"):
        avatar, _, seen = flows(model, name, frames)
        folded = inside_only = 0
        for _, _, driven, _, layers in seen:
            flow = layers.flow[0]
            fills[0] = 0
            start = time.perf_counter()
            opening = driven.points[INNER_LIP]
            fixed = unfolding.unfold(flow, model.size, (driven.points, avatar.landmarks), opening)  # as composed
            took = (time.perf_counter() - start) * 1000
            rounds[fills[0]] = rounds.get(fills[0], 0) + 1
            inside_only += bool(not fills[0] and unfolding.folded_cells(flow, model.size).any())
            if fills[0]:
                folded += 1
                times_fold.append(took)
                refilled.append(int(np.any(fixed != flow, axis=-1).sum()))
                outside = unfolding._outside(opening, flow.shape[0] - 1, model.size)
                still += bool((unfolding.folded_cells(fixed, model.size) & outside).any())
            else:
                times_sound.append(took)
        rows.append(
            {"portrait": name, "frames": len(seen), "folded": folded, "folded_inside_opening_only": inside_only}
        )
        tqdm.write(json.dumps(rows[-1]))
    model.engine.close()
    summary = {
        "frames": sum(r["frames"] for r in rows),
        "folded": sum(r["folded"] for r in rows),
        "folded_inside_opening_only": sum(r["folded_inside_opening_only"] for r in rows),
        "fills_needed": {str(k): v for k, v in sorted(rounds.items())},
        "still_folded_after": still,
        "grid_points_refilled_median": float(np.median(refilled)) if refilled else 0.0,
        "grid_points_refilled_max": int(max(refilled, default=0)),
        "ms_folded_median": float(np.median(times_fold)) if times_fold else None,
        "ms_folded_max": float(max(times_fold, default=0.0)),
        "ms_sound_median": float(np.median(times_sound)),
    }
    return {"portraits": rows, "summary": summary}


def sheet(out: Path, frames: int) -> None:
    import liveavatar.render.full_resolution as full_resolution
    from liveavatar.pipeline.stages import Composer
    from liveavatar.render.unfold import unfold

    model = mm.Model()
    columns = []
    for name in tqdm(SHEET, desc="portraits", unit="portrait"):
        avatar, warp, seen = flows(model, name, frames, (*mm.TALKING, WIDE_OPEN))
        talking = [s for s in seen if s[0] != WIDE_OPEN]
        wide = [s for s in seen if s[0] == WIDE_OPEN and s[2].driver_now is not None]
        chosen = (
            max(talking, key=lambda s: refilled_points(s[4].flow[0], model.size)),  # the most folded
            max(wide, key=lambda s: mm.opening(s[2].driver_now)),  # the widest mouth there is
        )
        tiles = []
        for stem, k, d, frame, _ in chosen:
            for unfolded in (False, True):
                # the map as the graph gives it, then as the live path moves the portrait with it
                full_resolution.unfold = unfold if unfolded else (lambda flow, *_: flow)
                composer = Composer(*mm.OUTPUT_SIZE)
                image = model.render(composer, avatar, warp, d, frame, "mouth")
                to_output = mm.crop_to_output(composer)
                p = d.points @ to_output[:, :2].T + to_output[:, 2]
                centre, half = p[48:68].mean(0), 1.0 * float(np.ptp(p[48:60, 0]))
                x0, y0 = int(centre[0] - half), int(centre[1] - 0.8 * half)
                tiles.append(cv2.resize(image[y0 : y0 + int(1.6 * half), x0 : x0 + int(2 * half)], (256, 205)))
            tqdm.write(f"{name}: {stem} frame {k}")
        full_resolution.unfold = unfold
        columns.append(np.vstack(tiles))
    model.engine.close()
    cv2.imwrite(str(out), cv2.cvtColor(np.hstack(columns), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {out}: the most folded talking frame as the graph gives it, unfolded; {WIDE_OPEN}'s widest, same")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("report", "sheet"))
    parser.add_argument("--frames", type=int, default=40, help="frames per clip, every second one")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not (mm.SHARED / "MANIFEST.tsv").is_file():
        print(f"{mm.SHARED} is absent: these measures need the shared clips and portraits", file=sys.stderr)
        return 2
    if args.what == "sheet":
        sheet(args.out or mm.ROOT / "docs" / "unfold.jpg", args.frames)
        return 0
    mm.print_and_save(report(args.frames), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
