"""The real-photo figures of metrics.json ("photos", written by ``python -m fer_core evaluate --photos
PATH --write``) as the Training & metrics page shows them: tables and the note that says what they are."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from fer_core import EMOTIONS

HOW_TO = ("python -m fer_core evaluate {name} --photos lfw_expressions.npz --photos sfew_train.npz --write "
          "(or --photos a folder of your own labelled photos, one sub-folder per emotion)")


def describe(set_name: str, m: Mapping) -> str:
    """One sentence: which photos, held out how, read with which detector."""
    n, found = m.get("n"), m.get("found")
    split = m.get("split") or {}
    if m.get("part") == "test":
        by = split.get("by", "group")
        held = (f"the held-out {by}s: {split.get('groups', '?'):,} {by}s never trained on nor used for any "
                f"choice (a hash of each {by}'s name puts {split.get('test', 0.3):.0%} of them in the test part)")
    elif m.get("part") == "all":
        held = "every photo of the folder"
    else:
        held = f"its {m.get('part')} part"
    return (f"**{set_name}**: {n:,} photos, {held}; the face was found by {m.get('detector')} in {found:,} of them "
            f"({m.get('found_share', 0):.1%}).")


def set_table(photos: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per photo set: accuracy, macro-F1, faces found, recall of each emotion (blank where
    the set has no photo of it)."""
    return pd.DataFrame([_row({"photo set": s}, m) for s, m in photos.items()])


def comparison_table(all_metrics: Mapping[str, Mapping], set_name: str) -> pd.DataFrame:
    """One row per model that has figures on ``set_name``."""
    return pd.DataFrame([_row({"model": n}, m["photos"][set_name]) for n, m in all_metrics.items()
                         if set_name in (m.get("photos") or {})])


def photo_sets(all_metrics: Mapping[str, Mapping]) -> list[str]:
    """The photo sets any model has figures on, in the order first seen."""
    return list(dict.fromkeys(s for m in all_metrics.values() for s in (m.get("photos") or {})))


def _row(first: dict, m: Mapping) -> dict:
    per_class = m.get("per_class", {})
    return {**first, "detector": m.get("detector"), "accuracy": m.get("accuracy"),
            "accuracy, all photos": m.get("accuracy_all_photos"), "macro-F1": m.get("macro_f1"),
            "faces found": m.get("found_share"),
            **{e: (per_class.get(e) or {}).get("recall") if (per_class.get(e) or {}).get("support") else None
               for e in EMOTIONS}}


def column_config(st) -> dict:
    """st.dataframe column settings for these tables (``st``: the streamlit module)."""
    pct = st.column_config.NumberColumn
    return {
        "accuracy": pct(format="percent", help="Of the photos whose face was found, how many were read right."),
        "accuracy, all photos": pct(format="percent", help="A photo where the detector found no face counts as "
                                                           "wrong: what a user pointing the app at these photos sees."),
        "macro-F1": pct(format="%.3f", help="The average F1 of the emotions the set holds."),
        "faces found": pct(format="percent", help="The share of photos where the detector found a face."),
        **{e: pct(format="percent", help=f"Recall of {e}: of the found faces labelled {e}, how many were read as "
                                         f"{e}. Blank: the set has no such photo.") for e in EMOTIONS},
    }
