"""Labelled real photos (fer_core.realfaces): a user's <emotion>/ folder, the LFW and SFEW photo sets,
and the split that keeps every person (LFW) and every film clip (SFEW) on one side.

Real inputs throughout: scikit-image's photographs (the astronaut, the cameraman), real FER-2013 faces
upscaled ($FER2013_PATH), and the real LFW and SFEW files ($LFW_EXPRESSIONS_PATH, $SFEW_PATH)."""

from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest

from fer_core.data import DataError
from fer_core.emotions import EMOTIONS
from fer_core.realfaces import clip_of, emotion_index, load_photo_folder, load_photo_set, split_groups

from .fixtures import astronaut_rgb, encode, fer_sample


@pytest.fixture(scope="module")
def lfw(lfw_path):
    return load_photo_set(lfw_path)


@pytest.fixture(scope="module")
def sfew(sfew_path):
    return load_photo_set(sfew_path)


# --- A user's folder --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, emotion", [
    ("Happiness", "Happy"), ("ANGER", "Angry"), ("3_happy", "Happy"), ("03 Happy", "Happy"),
    ("  sad ", "Sad"), ("Sadness", "Sad"), ("surprised", "Surprise"), ("fearful", "Fear"),
    ("disgusted", "Disgust"), ("Neutral", "Neutral"), ("calm", "Neutral"), ("no-emotion", "Neutral"),
])
def test_emotion_names_synonyms_and_case(name, emotion):
    assert emotion_index(name) == EMOTIONS.index(emotion)


@pytest.mark.parametrize("name", ["cats", "happy birthday", "2019", "", "holiday_photos", "contempt"])
def test_names_that_are_no_emotion(name):
    assert emotion_index(name) is None


def _fer_faces(emotion: str, k: int, size: int = 192) -> list[np.ndarray]:
    """``k`` real FER-2013 faces of ``emotion``, upscaled to ``size`` px as a camera photo would be."""
    s = fer_sample({"Training": k})
    faces = s["images"][s["labels"] == EMOTIONS.index(emotion)][:k]
    return [cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC) for f in faces]


def test_folder_of_real_photos_with_synonyms_case_and_numbers(tmp_path):
    from skimage import data

    (tmp_path / "Happiness").mkdir()
    (tmp_path / "Happiness" / "astronaut.jpg").write_bytes(encode(astronaut_rgb(), "JPEG", quality=90))
    (tmp_path / "ANGER").mkdir()
    for i, face in enumerate(_fer_faces("Angry", 3)):
        (tmp_path / "ANGER" / f"angry_{i}.png").write_bytes(encode(face, "PNG"))
    # Two emotion folders may name the same emotion; a person's sub-folder groups their photos.
    (tmp_path / "3_happy" / "cameraman").mkdir(parents=True)
    (tmp_path / "3_happy" / "cameraman" / "one.png").write_bytes(encode(data.camera(), "PNG"))
    (tmp_path / "Neutral" / "cameraman").mkdir(parents=True)
    (tmp_path / "Neutral" / "cameraman" / "two.jpg").write_bytes(encode(data.camera(), "JPEG"))
    (tmp_path / "Neutral" / "notes.txt").write_text("not a photo, and not an image suffix: ignored")
    (tmp_path / ".thumbnails").mkdir()  # hidden folders are no emotion and are not refused

    photos = load_photo_set(tmp_path)
    assert len(photos) == 6 and photos.name == tmp_path.name and photos.skipped == []
    assert photos.counts() == [3, 0, 0, 2, 0, 0, 1]
    by_file = dict(zip(photos.groups, photos.labels))
    assert by_file["Happiness/astronaut.jpg"] == EMOTIONS.index("Happy")
    # Every image is read as the app reads it: BGR, full size.
    shapes = sorted(im.shape for im in photos.images)
    assert shapes == [(192, 192, 3)] * 3 + [(512, 512, 3)] * 3
    # The cameraman's two photos are one group (one person), whatever emotion folder they are in.
    assert (photos.groups == "cameraman").sum() == 2
    astro = photos.images[list(photos.groups).index("Happiness/astronaut.jpg")]
    assert np.abs(astro[..., ::-1].astype(int) - astronaut_rgb()).mean() < 4  # the JPEG, colours kept


def test_unreadable_files_are_skipped_and_listed(tmp_path):
    (tmp_path / "happy").mkdir()
    good = encode(astronaut_rgb(), "JPEG", quality=90)
    (tmp_path / "happy" / "good.jpg").write_bytes(good)
    (tmp_path / "happy" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (tmp_path / "happy" / "empty.png").write_bytes(b"")
    (tmp_path / "happy" / "text.jpg").write_text("this is not a JPEG")
    photos = load_photo_folder(tmp_path)
    assert len(photos) == 1
    assert sorted(s.split(":")[0].rsplit("/", 1)[-1] for s in photos.skipped) == ["empty.png", "text.jpg",
                                                                                "truncated.jpg"]
    assert all(": " in s and len(s.split(": ", 1)[1]) > 10 for s in photos.skipped)  # each says why


def test_unknown_folder_names_are_named_in_the_message(tmp_path):
    for d in ("happy", "Holiday 2019", "cats"):
        (tmp_path / d).mkdir()
    (tmp_path / "happy" / "a.jpg").write_bytes(encode(astronaut_rgb(), "JPEG"))
    with pytest.raises(DataError, match="not emotions: Holiday 2019, cats") as err:
        load_photo_set(tmp_path)
    assert "happiness" in str(err.value)  # it says what names work


def test_empty_folder_and_folders_without_photos(tmp_path):
    with pytest.raises(DataError, match="no emotion sub-folders"):
        load_photo_set(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(encode(astronaut_rgb(), "JPEG"))  # photos, but not sorted by emotion
    with pytest.raises(DataError, match="no emotion sub-folders"):
        load_photo_set(tmp_path)
    (tmp_path / "sad").mkdir()
    (tmp_path / "sad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match=r"no readable photos .*1 files could not be read.*broken\.png"):
        load_photo_set(tmp_path)


def test_paths_that_are_no_photo_set(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_photo_set(tmp_path / "missing")
    (tmp_path / "a.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="expected a folder"):
        load_photo_set(tmp_path / "a.csv")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_photo_set(tmp_path / "broken.npz")
    np.savez(tmp_path / "other.npz", images=np.zeros((2, 8, 8), np.uint8), labels=np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="needs images, labels and person or filenames"):
        load_photo_set(tmp_path / "other.npz")
    np.savez(tmp_path / "bad_labels.npz", images=np.zeros((2, 8, 8), np.uint8), labels=np.array([0, 9], np.uint8),
             person=np.array(["a", "b"]))
    with pytest.raises(DataError, match="labels must be 0 to 6"):
        load_photo_set(tmp_path / "bad_labels.npz")


def test_a_truncated_copy_of_the_real_lfw_file_is_refused(tmp_path, lfw_path):
    with open(lfw_path, "rb") as fh:
        (tmp_path / "lfw_expressions.npz").write_bytes(fh.read(2_000_000))
    assert not zipfile.is_zipfile(tmp_path / "lfw_expressions.npz")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_photo_set(tmp_path / "lfw_expressions.npz")


# --- The real photo sets and their split by person / clip -----------------------------------------


def test_lfw_and_sfew_load_with_their_groups(lfw, sfew):
    assert len(lfw) == 9982 and lfw.images[0].shape == (96, 96)
    assert len(np.unique(lfw.groups)) == 4450  # one group a person
    assert lfw.counts() == [193, 9, 10, 4124, 96, 285, 5265]  # the README's counts
    assert len(sfew) == 856 and sfew.images[0].shape == (181, 143, 3)
    assert sfew.counts() == [171, 49, 75, 176, 151, 92, 142]


@pytest.mark.parametrize("filename, clip", [
    ("Train/Angry/Airheads_000519240_00000005.png", "Airheads_000519240"),
    ("Train/Happy/AlexEmma_000958320_00000069.png", "AlexEmma_000958320"),
    # Film names with underscores keep them: only the frame number comes off.
    ("Train/Angry/HarryPotter_Deathly_Hallows_1_000046280_00000017.png", "HarryPotter_Deathly_Hallows_1_000046280"),
    # Frames of one clip whose names SFEW writes differently (with '-', or '__').
    ("Train/Disgust/OceansThirteen-010619400_00000087.png", "OceansThirteen_010619400"),
    ("Train/Disgust/OceansThirteen_010619400_00000057.png", "OceansThirteen_010619400"),
    ("Train/Sad/IAmSam_013827920__00000055.png", "IAmSam_013827920"),
    ("Train/Sad/IAmSam_013827920_00000034.png", "IAmSam_013827920"),
])
def test_sfew_clip_of_a_file_name(filename, clip):
    assert clip_of(filename) == clip


def test_sfew_groups_are_film_clips(sfew_path, sfew):
    import re

    with np.load(sfew_path) as z:
        names = z["filenames"]
    # Every name is <Film><sep><timestamp><sep><frame>.png; a clip is one film and timestamp, however
    # the separators are written, so no clip can sit on both sides of the split.
    parts = [re.fullmatch(r"Train/\w+/(.+?)[_-]+(\d+)[_-]+(\d+)\.png", str(n)) for n in names]
    assert all(parts)
    assert list(sfew.groups) == [f"{m[1]}_{m[2]}" for m in parts]
    clips, frames = np.unique(sfew.groups, return_counts=True)
    assert len(clips) == 575 and frames.max() == 7  # several frames a clip: why frames are never split apart
    # Clips are told apart by film and timestamp, not by a frame's emotion folder: the same clip may
    # hold frames of two emotions, and stays one group.
    assert len({(g, l) for g, l in zip(sfew.groups, sfew.labels)}) > len(clips)


@pytest.mark.parametrize("which", ["lfw", "sfew"])
def test_split_keeps_each_group_on_one_side(which, request):
    photos = request.getfixturevalue(which)
    side = split_groups(photos.groups)
    assert set(side) == {"train", "val", "test"}
    for part in ("train", "val"):
        assert not set(photos.groups[side == part]) & set(photos.groups[side == "test"])
    assert not set(photos.groups[side == "train"]) & set(photos.groups[side == "val"])
    # 30% of the groups held out for test, 10% for validation (a hash of each name decides, so roughly).
    groups = np.unique(photos.groups)
    group_side = split_groups(groups)
    assert abs((group_side == "test").mean() - 0.3) < 0.05 and abs((group_side == "val").mean() - 0.1) < 0.04
    # The held-out part holds every emotion the set has.
    assert set(photos.labels[side == "test"]) == set(photos.labels)


def test_split_is_stable_and_independent_of_order_and_of_other_groups(lfw):
    side = split_groups(lfw.groups)
    assert np.array_equal(side, split_groups(lfw.groups))
    order = np.random.default_rng(0).permutation(len(lfw))
    assert np.array_equal(split_groups(lfw.groups[order]), side[order])
    some = np.flatnonzero(np.isin(lfw.groups, lfw.groups[::7]))  # the photos of some of the people
    assert np.array_equal(split_groups(lfw.groups[some]), side[some])
    # A different salt is a different split (the default one is what every figure is reported on).
    assert not np.array_equal(split_groups(lfw.groups, salt="another"), side)
    # The figures' held-out part of LFW: 2,694 photos (this pins the split every stored figure uses).
    assert (side == "test").sum() == 2694 and len(set(lfw.groups[side == "test"])) > 1200
