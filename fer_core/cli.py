"""The command-line interface: train, evaluate and predict, with progress printed as it goes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from .images import ImageError

PRESETS = {
    # The seed exactly: Adam, plain cross-entropy, 20 epochs, batch 64, no augmentation.
    "seed": dict(architecture="seed", epochs=20, batch_size=64, learning_rate=1e-3),
    # The default: a BN VGG with augmentation, a mildly class-weighted, label-smoothed loss,
    # cosine learning-rate decay, then 3 polishing epochs on un-augmented faces; int8 weights.
    "default": dict(architecture="compact_vgg", epochs=26, batch_size=64, learning_rate=2e-3,
                    augment=True, class_weight_power=0.5, label_smoothing=0.1, cosine=True, polish_epochs=3,
                    quantize=True),
    # The recipe of the ensemble's mixup member (trained on a GPU with experiments/train_torch.py, the
    # same network and recipe in PyTorch): wider, mixup, 90 epochs; about 6 hours on a 2-core CPU.
    # The shipped default is the "default" preset run for 94 epochs (--epochs 94).
    # Issue 11's default: the previous default (compact-v2) fine-tuned to read real faces. FER+ crowd votes blended
    # into the targets, the real photos' own training people and clips added (cropped by the
    # pipeline's detectors), camera-like augmentation; the epoch chosen on PublicTest together with
    # the photo sets' validation people and clips, then the weights blended back towards compact-v2's by
    # the share that scores best there. Needs --ferplus and --photos (or the environment).
    "realfaces": dict(architecture="compact_vgg", init="compact-v2", epochs=6, batch_size=64,
                      learning_rate=5e-4, augment=True, camera=True, class_weight_power=0.5, label_smoothing=0.05,
                      cosine=True, polish_epochs=1, quantize=True, ferplus_weight=0.3,
                      photo_weights={"lfw_expressions": 1.0, "sfew_train": 3.0}, blend_back=(0.0, 0.2, 0.35, 0.5)),
    # realfaces with the ensemble as a teacher for the FER-2013 faces (less FER+): issue 11's second try.
    "realfaces-kd": dict(architecture="compact_vgg", init="compact-v2", epochs=4, batch_size=64,
                         learning_rate=5e-4, augment=True, camera=True, class_weight_power=0.5, label_smoothing=0.05,
                         cosine=True, polish_epochs=1, quantize=True, ferplus_weight=0.2, teacher="ensemble",
                         teacher_weight=0.4, photo_weights={"lfw_expressions": 1.0, "sfew_train": 3.0},
                         blend_back=(0.0, 0.2, 0.35, 0.5)),
    # Issue 11's third try: realfaces without FER+ (its votes cost FER-2013 accuracy: experiments/README.md)
    # and chosen by FER-2013 PublicTest among the epochs and blend shares whose photo validation figures
    # reach floors (LFW people 80%, SFEW clips 48%), so FER-2013 is kept as far as the photos allow.
    "realfaces-fer": dict(architecture="compact_vgg", init="compact-v2", epochs=5, batch_size=64,
                          learning_rate=5e-4, augment=True, camera=True, class_weight_power=0.5,
                          label_smoothing=0.05, cosine=True, polish_epochs=1, quantize=True, ferplus_weight=0.0,
                          photo_weights={"lfw_expressions": 1.0, "sfew_train": 3.0},
                          blend_back=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
                          photo_floors={"lfw_expressions": 0.80, "sfew_train": 0.48}),
    "wide": dict(architecture="wide_vgg", epochs=90, batch_size=64, learning_rate=2e-3, augment=True,
                 class_weight_power=0.5, label_smoothing=0.1, mixup=0.2, cosine=True, polish_epochs=3,
                 quantize=True),
}
# realfaces-fer with the ensemble as teacher for FER-2013's faces (0.4 of the target)
PRESETS["realfaces-fer-kd"] = {**PRESETS["realfaces-fer"], "teacher": "ensemble", "teacher_weight": 0.4}
# Issue 11's fourth try: realfaces-fer-kd with less drift from compact-v2 before the polishing epochs
# (whose un-augmented faces lifted PublicTest and LFW most): a shorter schedule, or a gentler rate.
PRESETS["realfaces-short"] = {**PRESETS["realfaces-fer-kd"], "epochs": 3, "polish_epochs": 2}
PRESETS["realfaces-gentle"] = {**PRESETS["realfaces-fer-kd"], "learning_rate": 2e-4, "epochs": 4, "polish_epochs": 2}


def default_data_path() -> str | None:
    return os.environ.get("FER2013_PATH")


def _data_arg(p):
    p.add_argument("--data", default=default_data_path(),
                   help="fer2013.csv, fer2013.npz or a Kaggle folder (default: $FER2013_PATH)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on FER-2013 and publish it in models/NAME")
    _data_arg(t)
    t.add_argument("--name", required=True, help="model name: the folder models/NAME")
    t.add_argument("--preset", choices=sorted(PRESETS), default="default")
    t.add_argument("--architecture", choices=["seed", "compact_vgg", "wide_vgg"])
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--polish-epochs", type=int, help="extra epochs on un-augmented faces at the end")
    t.add_argument("--lr", type=float, dest="learning_rate")
    t.add_argument("--models-dir", default=None, help="default: models/ (or $FER_MODELS_DIR)")
    t.add_argument("--fresh", action="store_true", help="ignore checkpoints in runs/NAME and start over")
    t.add_argument("--init", help="fine-tune this model folder's model.keras instead of starting from scratch")
    t.add_argument("--flip-average", action="store_true", default=None,
                   help="publish a model that averages each face's reading with its mirror's (2x the cost a face)")
    t.add_argument("--ferplus", default=os.environ.get("FERPLUS_PATH"),
                   help="FER+ votes (fer2013new.csv, default $FERPLUS_PATH), for presets with FER+ soft targets")
    t.add_argument("--photos", action="append", default=None,
                   help="a labelled photo set to train on as well (an <emotion>/ folder, lfw_expressions.npz or "
                        "sfew_train.npz; repeatable; default $LFW_EXPRESSIONS_PATH and $SFEW_PATH for presets "
                        "that use photos): its train people/clips are added, its val ones help choose the epoch")

    e = sub.add_parser("evaluate", help="score models on PublicTest and PrivateTest, and on labelled real photos")
    _data_arg(e)
    e.add_argument("models", nargs="*", help="model names or folders (default: every model in models/)")
    e.add_argument("--models-dir", default=None, help="default: models/ (or $FER_MODELS_DIR)")
    e.add_argument("--write", action="store_true", help="write the figures to each model's metrics.json")
    e.add_argument("--tta", action="append", nargs="?", const="flip", choices=["flip", "tencrop"],
                   help="also score with test-time augmentation: flip (the face and its mirror) or tencrop "
                        "(corner and centre crops, each mirrored); repeat for both")
    e.add_argument("--ferplus", default=os.environ.get("FERPLUS_PATH"),
                   help="FER+ votes (fer2013new.csv, default $FERPLUS_PATH): also score against the FER+ "
                        "majority label")
    e.add_argument("--photos", action="append", default=None, metavar="PATH",
                   help="also score on a labelled photo set through the whole pipeline (detector, crop, CNN): "
                        "a folder <emotion>/*.jpg (every photo is scored), lfw_expressions.npz or sfew_train.npz "
                        "(their held-out people / clips only); repeatable; default $LFW_EXPRESSIONS_PATH and "
                        "$SFEW_PATH when set")
    e.add_argument("--no-photos", action="store_true", help="score FER-2013 only, whatever the environment says")
    e.add_argument("--detector", default=None,
                   help="face detector for --photos: haar, haar-fast or blazeface (default: the most accurate "
                        "installed for photos, as the photo page uses)")

    p = sub.add_parser("predict", help="read the emotion of every face in photos and videos")
    p.add_argument("paths", nargs="+", help="photo or video files, or folders of them")
    p.add_argument("--model", default="default")
    p.add_argument("--detector", default=None,
                   help="face detector: haar, haar-fast or blazeface (default: the recognizer's own for photos; "
                        "haar-fast, with tracking between searches, for videos)")
    p.add_argument("--csv", help="also write the results to this CSV file (one row per face and frame)")
    p.add_argument("--every", type=int, default=1, metavar="K", help="videos: analyse every K-th frame (default 1)")
    p.add_argument("--annotated", metavar="OUT.mp4",
                   help="videos: write a copy with boxes and labels (H.264 MP4); with several videos, a folder")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict}[args.command](args)
    except (ValueError, ImageError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _need_data(args):
    from .data import load_fer2013

    if not args.data:
        raise ValueError("no dataset given: pass --data PATH or set FER2013_PATH.")
    print(f"Loading {args.data} ...", flush=True)
    return load_fer2013(args.data)


def cmd_train(args) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(**PRESETS[args.preset])
    overrides = {k: getattr(args, k) for k in ("architecture", "epochs", "batch_size", "learning_rate", "polish_epochs",
                                               "init", "flip_average")}
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    data = _need_data(args)
    print(f"{len(data)} images; per split and emotion: {data.counts()}", flush=True)
    from .registry import MODELS_DIR, model_dir

    models = args.models_dir or MODELS_DIR
    if cfg.init:  # a model name (models/NAME) or a folder
        cfg = replace(cfg, init=str(model_dir(cfg.init, models)))
    # The models the run starts from or learns from are checked now, not after minutes of cropping photos.
    needed = [(Path(cfg.init), "model.keras", "the model it fine-tunes")] if cfg.init else []
    if cfg.teacher and cfg.teacher_weight > 0:
        needed.append((model_dir(cfg.teacher, models), "model.tflite", "its teacher"))
    for folder, file, role in needed:
        if not (folder / file).is_file():
            raise ValueError(f"the '{args.preset}' preset needs {role}, the model in {folder}, and there is no "
                             f"{file} there: train or copy that model into --models-dir, or pick another preset.")
    votes = None
    if cfg.ferplus_weight > 0:
        if not args.ferplus:
            raise ValueError(f"the '{args.preset}' preset blends in FER+ votes: pass --ferplus fer2013new.csv "
                             "or set FERPLUS_PATH.")
        votes = _ferplus_votes(args.ferplus, data)
    photos = _training_photos(args.photos, cfg)
    # a photo set the preset does not weigh gets weight 1 (a new dict: the preset itself stays as it is)
    cfg = replace(cfg, photo_weights={**{p.name: 1.0 for p in photos}, **cfg.photo_weights})
    teacher = None
    if cfg.teacher and cfg.teacher_weight > 0:
        from .train import teacher_probabilities

        print(f"Reading the Training faces with the teacher '{cfg.teacher}' ...", flush=True)
        teacher = teacher_probabilities(model_dir(cfg.teacher, models) / "model.tflite", data)
    target = train(data, args.name, cfg, models_dir=models, resume=not args.fresh,
                   ferplus=votes, photos=photos, teacher=teacher)
    metrics = json.loads((target / "metrics.json").read_text())
    m = metrics.get("PublicTest")
    if m:  # the validation split; PrivateTest is in metrics.json, to report for a model chosen to ship only
        print(f"PublicTest: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}")
    print(f"Model written to {target}")
    return 0


PHOTO_SET_VARIABLES = ("LFW_EXPRESSIONS_PATH", "SFEW_PATH")  # where train and evaluate find photo sets by default


def _photo_sets_from_environment() -> list[str]:
    return [os.environ[v] for v in PHOTO_SET_VARIABLES if os.environ.get(v)]


def _training_photos(paths, cfg) -> list:
    """The photo sets to train on, cropped by the detectors the app uses (BlazeFace where installed)."""
    from .faces import available_detectors, make_detector
    from .realfaces import load_photo_set, training_photos

    if paths is None and cfg.photo_weights:
        paths = _photo_sets_from_environment()
    if cfg.photo_weights and not paths:
        raise ValueError("this preset trains on labelled photos as well: pass --photos PATH (repeatable) or set "
                         + " / ".join(PHOTO_SET_VARIABLES) + ".")
    names = [n for n in ("haar", "blazeface") if n in available_detectors()]
    detectors = {n: make_detector(n) for n in names}
    out = []
    for path in paths or []:
        photos = load_photo_set(path)
        print(f"Cropping the faces of {photos.name} ({len(photos)} photos) with {', '.join(names)} ...", flush=True)
        parts = training_photos(photos, detectors, names[-1])
        for p in parts:
            print(f"  {p.part}: {p.photos} photos, {len(p.labels)} crops", flush=True)
        out += parts
    return out


def cmd_evaluate(args) -> int:
    from .classifier import TFLiteClassifier
    from .evaluate import PhotoCrops, evaluate_model_file, evaluate_photos, figure_differences
    from .faces import default_still_detector
    from .realfaces import load_photo_set
    from .registry import MODELS_DIR, list_models, model_dir

    paths = [] if args.no_photos else (args.photos if args.photos is not None else _photo_sets_from_environment())
    if not args.data and not paths:
        raise ValueError("nothing to score: pass --data PATH (FER-2013; or set FER2013_PATH) and/or --photos PATH.")
    models_dir = args.models_dir or MODELS_DIR
    folders = [model_dir(n, models_dir) for n in (args.models or list_models(models_dir))]
    missing = [str(f) for f in folders if not (f / "model.tflite").is_file()]
    if missing:
        raise ValueError(f"no model.tflite in {', '.join(missing)}.")

    # The photo sets first, so that a folder it cannot read fails before minutes of scoring; the
    # faces are found once per set and scored for every model.
    sets = []
    detector = args.detector or default_still_detector() if paths else None
    for path in paths:
        photos = load_photo_set(path)
        if any(c.name == photos.name for c in sets):
            raise ValueError(f"two photo sets are named '{photos.name}' (the name of the file or folder): rename one.")
        for line in photos.skipped[:10]:
            print(f"skipped {line}")
        if len(photos.skipped) > 10:
            print(f"... and {len(photos.skipped) - 10} more files that could not be read")
        crops = PhotoCrops(photos, detector)
        print(f"{crops.name}: {len(crops)} photos ({crops.part} part), faces found by {detector} in "
              f"{int(crops.found.sum())}", flush=True)
        sets.append(crops)

    data = _need_data(args) if args.data else None
    votes = _ferplus_votes(args.ferplus, data) if args.ferplus and data is not None else None
    plus = "  FER+ majority" if votes is not None else ""

    def show(label, metrics):
        for split, m in metrics.items():
            extra = f"{m['ferplus_majority_accuracy']:>15.4f}" if votes is not None else ""
            print(f"{label:<21}{split:<13}{m['accuracy']:>9.4f}{m['macro_f1']:>10.4f}{m['ece']:>8.4f}{extra}")

    if data is not None:
        print(f"{'model':<21}{'split':<13}{'accuracy':>9}{'macro-F1':>10}{'ECE':>8}{plus}")
    figures_of = {}
    for folder in folders:
        figures = {}
        if data is not None:
            figures = evaluate_model_file(folder / "model.tflite", data, ferplus=votes)
            show(folder.name, figures)
            for m in figures.values():  # metrics.json holds FER-2013's own labels' figures only
                m.pop("ferplus_majority_accuracy", None), m.pop("ferplus_n", None)
            for mode in dict.fromkeys(args.tta or []):
                show(f"{folder.name}+{mode}",
                     evaluate_model_file(folder / "model.tflite", data, tta=mode, ferplus=votes))
        if sets:
            classifier = TFLiteClassifier(folder / "model.tflite", threads=os.cpu_count() or 1)
            figures["photos"] = {c.name: evaluate_photos(classifier, c) for c in sets}
        figures_of[folder] = figures
    if sets:
        _show_photo_figures(figures_of)
    for folder, figures in figures_of.items():
        _store_or_compare(folder, figures, args.write, figure_differences)
    return 0


def _show_photo_figures(figures_of: dict) -> None:
    print()
    print(f"{'model':<21}{'photo set':<22}{'part':<6}{'photos':>7}{'found':>8}{'accuracy':>10}{'of all':>8}"
          f"{'macro-F1':>10}{'Neutral':>9}{'Happy':>7}")
    for folder, figures in figures_of.items():
        for name, m in figures.get("photos", {}).items():
            recall = {e: c["recall"] for e, c in m["per_class"].items()}
            print(f"{folder.name:<21}{name:<22}{m['part']:<6}{m['n']:>7}{m['found_share']:>8.1%}{m['accuracy']:>10.4f}"
                  f"{m['accuracy_all_photos']:>8.4f}{m['macro_f1']:>10.4f}{recall['Neutral']:>9.4f}{recall['Happy']:>7.4f}")
            print(f"{'':<21}recall: " + ", ".join(
                f"{e} {c['recall']:.2f} ({c['support']})" for e, c in m["per_class"].items() if c["support"])
                + f"  [detector {m['detector']}]")
    print("(accuracy, macro-F1 and recall over the photos whose face was found; 'of all' counts a photo without "
          "a found face as wrong)")


def _store_or_compare(folder: Path, figures: dict, write: bool, differences) -> None:
    """--write: merge ``figures`` into metrics.json (photo sets not scored now are kept); otherwise
    compare every stored figure that was scored again and say which differ."""
    stored_path = folder / "metrics.json"
    try:
        stored = json.loads(stored_path.read_text()) if stored_path.exists() else None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{stored_path} cannot be read ({exc}).") from None
    label = f"{'':<21}{folder.name}: "
    if write:
        merged = dict(stored or {})
        merged.update({k: v for k, v in figures.items() if k != "photos"})
        if "photos" in figures:
            merged["photos"] = {**merged.get("photos", {}), **figures["photos"]}
        tmp = stored_path.with_name(".metrics.json.tmp")
        tmp.write_text(json.dumps(merged, indent=1))
        os.replace(tmp, stored_path)  # never a half-written metrics.json
        print(f"{label}written to metrics.json")
        return
    if stored is None:
        print(f"{label}no metrics.json (store these figures with --write)")
        return
    scored = {k: v for k, v in stored.items() if k in figures and k != "photos"}
    if "photos" in figures:
        scored["photos"] = {k: v for k, v in stored.get("photos", {}).items() if k in figures["photos"]}
    notes = [k for k in stored if k not in figures and k != "photos"]
    notes += [f"photos/{k}" for k in stored.get("photos", {}) if k not in figures.get("photos", {})]
    new_sets = [k for k in figures.get("photos", {}) if k not in stored.get("photos", {})]
    diff = differences(scored, figures)
    if diff:
        print(f"{label}DIFFERS from metrics.json in {len(diff)} figure{'s' if len(diff) > 1 else ''}:")
        for line in diff[:25]:
            print(f"{'':<23}{line}")
        if len(diff) > 25:
            print(f"{'':<23}... and {len(diff) - 25} more")
    elif scored.get("photos") or any(k != "photos" for k in scored):
        print(f"{label}matches metrics.json")
    if notes:
        print(f"{label}not scored now, so not checked: {', '.join(notes)}")
    if new_sets:
        print(f"{label}metrics.json has no figures for {', '.join(new_sets)} (store them with --write)")


def _ferplus_votes(path, data):
    from .data import load_ferplus_votes

    if Path(data.source).is_dir():
        raise ValueError("FER+ votes follow the row order of fer2013.csv / fer2013.npz; "
                         "a Kaggle folder has another order, so --ferplus needs the CSV or the npz.")
    return load_ferplus_votes(path, expected_rows=len(data))


def cmd_predict(args) -> int:
    import csv

    from .faces import make_detector
    from .images import PHOTO_SUFFIXES, load_image
    from .recognizer import EmotionRecognizer
    from .records import CSV_COLUMNS, face_rows
    from .video import DEFAULT_DETECTOR, VIDEO_SUFFIXES

    if args.every < 1:
        raise ValueError("--every must be 1 or more.")
    files = []
    for p in map(Path, args.paths):
        wanted = set(PHOTO_SUFFIXES) | set(VIDEO_SUFFIXES)
        files += sorted(f for f in p.rglob("*") if f.suffix.lower() in wanted) if p.is_dir() else [p]
    videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
    if args.annotated and len(videos) > 1:
        Path(args.annotated).mkdir(parents=True, exist_ok=True)
    rec = EmotionRecognizer.load(args.model, detector=make_detector(args.detector) if args.detector else None)
    video_rec = rec if args.detector else EmotionRecognizer(rec.classifier, make_detector(DEFAULT_DETECTOR), rec.name)

    out = open(args.csv, "w", newline="") if args.csv else None
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS) if out else None
    if writer:
        writer.writeheader()
    failed = 0
    try:
        for f in files:
            if f.suffix.lower() in VIDEO_SUFFIXES:
                annotated = None
                if args.annotated:
                    annotated = Path(args.annotated)
                    if len(videos) > 1:  # clip.mp4 -> clip-emotions.mp4; clip.webm beside it -> clip-webm-emotions.mp4
                        twins = sum(v.stem == f.stem for v in videos) > 1
                        annotated /= f"{f.stem}{'-' + f.suffix[1:] if twins else ''}-emotions.mp4"
                failed += not _predict_video(f, video_rec, args.every, annotated, writer)
                continue
            try:
                results = rec.analyze(load_image(f))
            except ImageError as exc:
                print(f"{f}: {exc}")
                failed += 1
                continue
            if not results:
                print(f"{f}: no face found")
            for i, r in enumerate(results):
                x, y, w, h = r.box
                print(f"{f}: face {i + 1} at ({x}, {y}, {w}×{h}): {r.label} {r.confidence:.0%}")
            if writer:
                writer.writerows(face_rows(str(f), results))
    finally:
        if out:
            out.close()
    if out:
        print(f"Results written to {args.csv}")
    return 1 if failed and failed == len(files) else 0


def _predict_video(path: Path, rec, every: int, annotated, writer) -> bool:
    """One video: rows to the CSV as it goes, progress every ~2 s, a summary per face at the end.
    False when nothing of it could be read."""
    import time

    import numpy as np

    from .emotions import EMOTIONS
    from .records import face_rows
    from .video import VideoError, analyze_video

    seen: dict[int, list] = {}  # face id -> [frames seen, first time, last time, label counts]
    last_print, frames, t_end, started = time.monotonic(), 0, 0.0, time.monotonic()
    ok = True
    try:
        for r in analyze_video(path, rec, every=every, annotated=annotated):
            frames, t_end = r.done, r.time_s
            if writer:
                writer.writerows(face_rows(str(path), r.faces, r.frame, r.time_s))
            for face in r.faces:
                s = seen.setdefault(face.face_id, [0, r.time_s, r.time_s, [0] * len(EMOTIONS)])
                s[0] += 1
                s[2] = r.time_s
                s[3][EMOTIONS.index(face.label)] += 1
            if time.monotonic() - last_print >= 2.0:
                last_print = time.monotonic()
                share = f" of {r.total} ({r.progress:.0%})" if r.total else ""
                print(f"{path}: frame {r.done}{share}, {r.time_s:.1f} s", file=sys.stderr, flush=True)
    except VideoError as exc:
        print(f"{path}: {exc}")
        ok = exc.frames_done > 0
        if not ok:
            return False
    took = time.monotonic() - started
    print(f"{path}: {frames} frames ({t_end:.1f} s of video) in {took:.1f} s, every {every}: {len(seen)} face"
          f"{'s' if len(seen) != 1 else ''}")
    for fid, (n, first, last, counts) in sorted(seen.items()):
        top = int(np.argmax(counts))
        print(f"{path}: face {fid} seen {first:.1f}-{last:.1f} s in {n} analysed frames: mostly {EMOTIONS[top]} "
              f"({counts[top] / n:.0%} of them)")
    if annotated:
        print(f"Annotated video written to {annotated}")
    return ok
