"""`liveavatar info`: parameters and GFLOPs per frame of G and E for each preset."""

from __future__ import annotations

import argparse
import json

from liveavatar.config import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="parameters and GFLOPs of the networks for each preset")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from liveavatar.models.flops import model_summary

    rows = [model_summary(cfg) for cfg in PRESETS.values()]
    if args.json:
        print(json.dumps({"presets": rows}, indent=2))
        return 0
    print(
        f"{'preset':<9} {'size':>5} {'ψ':>6} {'G params':>10} {'G GFLOPs':>9} {'E+P params':>11} {'E GFLOPs':>9}"
        f" {'D params':>10}"
    )
    for r in rows:
        g, e, d = r["generator"], r["embedder"], r["discriminator"]
        print(
            f"{r['preset']:<9} {r['image_size']:>5} {r['psi_size']:>6} {g['params'] / 1e6:>9.2f}M {g['gflops']:>9.2f}"
            f" {e['params'] / 1e6:>10.2f}M {e['gflops']:>9.2f} {d['params'] / 1e6:>9.2f}M"
        )
    print("GFLOPs: 2 per multiply-add of convolutions and matrix products, batch 1, one frame.")
    print("warp presets: G's column is their whole frame graph (spline warp, grid_sample, G, composite).")
    return 0
