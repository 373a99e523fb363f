"""Real test frames for the detection and speed benchmarks: 640×480 webcam-sized scenes built from
real photos, because no bundled photo is a webcam frame with one to three faces in it.

Faces: NASA's astronaut portrait (scikit-image), the LFW faces bundled with scikit-image, and
FER-2013 test faces when $FER2013_PATH is set (read at run time, never copied into the repo).
Backgrounds: real photos bundled with scikit-image and scikit-learn (no people in them).
Everything is drawn from a seeded generator, so every run sees the same frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

W, H = 640, 480


@dataclass
class Scene:
    frame: np.ndarray  # BGR uint8 [480, 640, 3]
    placed: list  # (x, y, w, h) of each pasted face (the face, not the whole pasted picture)
    sources: list  # where each face comes from: "astronaut", "lfw" or "fer2013"


def backgrounds() -> list[np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [data.coffee(), data.chelsea(), data.rocket(), data.stereo_motorcycle()[0], data.hubble_deep_field(),
              np.dstack([data.brick()] * 3), np.dstack([data.grass()] * 3)]
    photos += list(load_sample_images().images)  # china.jpg, flower.jpg
    return [cv2.resize(np.ascontiguousarray(p[:, :, ::-1]), (W, H), interpolation=cv2.INTER_AREA) for p in photos]


# The astronaut's head with hair and background (rows 0:220, columns 125:335 of the portrait) and,
# as fractions of that picture, where Haar finds her face in it (the face is at 177,67,93,93).
HEAD = (slice(0, 220), slice(125, 335))
HEAD_FACE = (52 / 210, 67 / 220, 93 / 210, 93 / 220)
TIGHT = (0.0, 0.0, 1.0, 1.0)  # LFW and FER-2013 pictures are cropped to the face


def astronaut_head() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[HEAD][:, :, ::-1])


def face_pictures(n_fer: int = 60, n_lfw: int = 40) -> list[tuple[np.ndarray, tuple]]:
    """Real face pictures, BGR, each with its face box as fractions of the picture: the astronaut
    (and her mirror image), LFW faces, FER-2013 faces."""
    from skimage import data

    head = astronaut_head()
    fx, fy, fw, fh = HEAD_FACE
    faces = [(head, HEAD_FACE, "astronaut"), (head[:, ::-1].copy(), (1 - fx - fw, fy, fw, fh), "astronaut")]
    lfw = (data.lfw_subset()[:100] * 255).astype(np.uint8)  # the first 100 are faces
    faces += [(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR), TIGHT, "lfw") for f in lfw[:: max(1, 100 // max(1, n_lfw))][:n_lfw]]
    path = os.environ.get("FER2013_PATH")
    if path and os.path.exists(path) and n_fer:
        with np.load(path) as z:
            test = z["images"][z["usage"] == 2]
        pick = np.random.default_rng(0).choice(len(test), n_fer, replace=False)
        faces += [(cv2.cvtColor(test[i], cv2.COLOR_GRAY2BGR), TIGHT, "fer2013") for i in pick]
    return faces


def paste(frame: np.ndarray, picture: tuple, x: int, y: int, size: int, gain: float = 1.0) -> tuple:
    """Paste a face picture ``size`` px wide at (x, y); returns the face's box in the frame."""
    face, (fx, fy, fw, fh) = picture[:2]
    h = round(size * face.shape[0] / face.shape[1])
    interp = cv2.INTER_AREA if size < face.shape[1] else cv2.INTER_CUBIC
    img = cv2.resize(face, (size, h), interpolation=interp).astype(np.float32) * gain
    frame[y:y + h, x:x + size] = np.clip(img, 0, 255).astype(np.uint8)
    return (x + round(fx * size), y + round(fy * h), round(fw * size), round(fh * h))


def _free_spot(rng, w, h, taken, tries=50):
    for _ in range(tries):
        x, y = int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))
        if all(x + w <= tx or tx + tw <= x or y + h <= ty or ty + th <= y for tx, ty, tw, th in taken):
            return x, y
    return None


def photo_scenes(n: int = 60, seed: int = 0, face_sizes=(60, 180)) -> list[Scene]:
    """Still frames with 1–3 faces 60–180 px wide (a face across a room to at arm's length)."""
    rng = np.random.default_rng(seed)
    bgs, pictures = backgrounds(), face_pictures()
    scenes = []
    for i in range(n):
        frame = bgs[i % len(bgs)].copy()
        placed, taken, sources = [], [], []
        for _ in range(int(rng.integers(1, 4))):
            # a third of the faces are the astronaut, the sharpest real face photo at hand
            pic = pictures[int(rng.integers(2))] if rng.random() < 1 / 3 else pictures[int(rng.integers(len(pictures)))]
            img, rel = pic[:2]
            w = min(W // 2, round(int(rng.integers(*face_sizes)) / rel[2]))  # picture width for that face width
            h = round(w * img.shape[0] / img.shape[1])
            spot = _free_spot(rng, w, h, taken)
            if spot:
                taken.append((*spot, w, h))
                placed.append(paste(frame, pic, *spot, w, gain=float(rng.uniform(0.7, 1.2))))
                sources.append(pic[2])
        scenes.append(Scene(frame, placed, sources))
    return scenes


def clip(n_frames: int = 90, n_faces: int = 2, seed: int = 0, faces=None, face_sizes=(70, 140)) -> list[Scene]:
    """A clip of faces (70–140 px wide) gliding across a still background, 4–10 px a frame (a head
    moving at a normal pace in a 30 fps webcam). Each face bounces inside its own vertical band,
    so faces never cover each other. Default faces: the astronaut and her mirror image."""
    rng = np.random.default_rng(seed)
    bg = backgrounds()[seed % 7]
    faces = faces or face_pictures(n_fer=0, n_lfw=0)
    band = W // n_faces
    movers = []
    for k in range(n_faces):
        pic = faces[k % len(faces)]
        w = min(band, round(int(rng.integers(*face_sizes)) / pic[1][2]))  # picture width for that face width
        h = round(w * pic[0].shape[0] / pic[0].shape[1])
        pos = np.array([k * band + rng.uniform(0, band - w), rng.uniform(0, H - h)])
        angle = rng.uniform(0, 2 * np.pi)
        vel = rng.uniform(4, 10) * np.array([np.cos(angle), np.sin(angle)])
        movers.append((pic, w, h, pos, vel, k * band, (k + 1) * band))
    scenes = []
    for _ in range(n_frames):
        frame, placed = bg.copy(), []
        for pic, w, h, pos, vel, left, right in movers:
            for axis, low, high in ((0, left, right - w), (1, 0, H - h)):
                if not low <= pos[axis] + vel[axis] <= high:
                    vel[axis] = -vel[axis]
            pos += vel
            placed.append(paste(frame, pic, int(pos[0]), int(pos[1]), w))
        scenes.append(Scene(frame, placed, [m[0][2] for m in movers]))
    return scenes
