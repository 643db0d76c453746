"""tools/build_shut_lid.py: a real clip's blinks read as a lit lid over a shadow
(skipped without ../shared/data)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from liveavatar.render.shut_lid import CORNER_A

TOOL = Path(__file__).resolve().parents[1] / "tools" / "build_shut_lid.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("build_shut_lid", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_real_clips_blinks_read_as_a_lit_lid_over_a_shadow(tool, driving):
    """The held-out blinking clip (left out of the asset): its two blinks are found, and the median of their
    eyes, high-passed, is lighter on the lid above the corners' row than on the band just under it."""
    patches, blinks = tool.clip_blinks(driving / "lp_blinkx2_man_hoodie_blinks.mp4")
    assert blinks >= 2 and len(patches) >= 4
    median = np.median(np.stack(patches), axis=0)
    middle = median[:, 48:80].mean(axis=1)  # across the eye's middle, per canonical row
    row = CORNER_A[1]
    lid, under = middle[row - 16 : row - 6].mean(), middle[row + 2 : row + 8].mean()
    assert lid - under > 0.15, f"lid {lid:+.3f}, under the lashes {under:+.3f}"


def test_a_missing_clips_folder_is_named(tool, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["build_shut_lid.py", "--clips", str(tmp_path / "nowhere")])
    assert tool.main() == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
