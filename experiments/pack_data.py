"""Pack FER-2013 Training + PublicTest (never PrivateTest) for a trip to a GPU machine.

The device tool carries at most 64 MiB; the raw faces are 74 MB. Lossless WebP mosaics of
44×44 faces bring them to ~52 MB. The folder is git-ignored and deleted after the run: the
dataset is never part of the project.

    python experiments/pack_data.py ../shared/data/fer2013/fer2013.npz ../shared/data/ferplus/fer2013new.csv .devdata
"""

import sys
from pathlib import Path

import cv2
import numpy as np


GRID = 44


def main(npz, ferplus, out):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fer_core.data import load_ferplus_votes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    d = np.load(npz)
    keep = d["usage"] < 2  # Training and PublicTest only: PrivateTest stays here
    x, y, usage = d["images"][keep], d["labels"][keep], d["usage"][keep]
    votes = load_ferplus_votes(ferplus, expected_rows=len(d["labels"]))[keep]
    per = GRID * GRID
    for k, start in enumerate(range(0, len(x), per)):
        chunk = x[start : start + per]
        pad = np.zeros((per - len(chunk), 48, 48), np.uint8)
        m = np.concatenate([chunk, pad]).reshape(GRID, GRID, 48, 48).transpose(0, 2, 1, 3).reshape(GRID * 48, -1)
        ok, buf = cv2.imencode(".webp", m, [cv2.IMWRITE_WEBP_QUALITY, 101])  # >100 = lossless
        assert ok
        back = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(back, m), "WebP round trip is not lossless"
        (out / f"faces_{k:02d}.webp").write_bytes(buf.tobytes())
    np.savez(out / "meta.npz", labels=y, usage=usage, votes=votes.astype(np.uint8), n=len(x))
    print(f"{len(x)} faces -> {out} ({sum(f.stat().st_size for f in out.iterdir()) / 1e6:.1f} MB)")


def load_packed(folder):
    """The inverse: (images uint8 [N,48,48], labels, usage, FER+ votes [N,7])."""
    folder = Path(folder)
    meta = np.load(folder / "meta.npz")
    faces = []
    for f in sorted(folder.glob("faces_*.webp")):
        m = cv2.imdecode(np.frombuffer(f.read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
        faces.append(m.reshape(GRID, 48, GRID, 48).transpose(0, 2, 1, 3).reshape(-1, 48, 48))
    x = np.concatenate(faces)[: int(meta["n"])]
    return x, meta["labels"], meta["usage"], meta["votes"].astype(np.float32)


if __name__ == "__main__":
    main(*sys.argv[1:4])
