"""From landmarks to pixels: the face crop and its inverse, THE landmark rasterizer, paste-back."""

from liveavatar.render.align import (
    CropBox,
    CropBoxSmoother,
    CropTransform,
    crop_from_box,
    face_box,
    face_crop,
)
from liveavatar.render.composite import paste_back, place_on_background
from liveavatar.render.rasterize import draw_landmarks_overlay, rasterize_landmarks

__all__ = [
    "CropBox",
    "CropBoxSmoother",
    "CropTransform",
    "crop_from_box",
    "draw_landmarks_overlay",
    "face_box",
    "face_crop",
    "paste_back",
    "place_on_background",
    "rasterize_landmarks",
]
