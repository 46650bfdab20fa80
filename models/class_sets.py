"""Class sets of trainable models: labels, valence of each, and how raw labels map to them.

Raw labels (folder names, coding-sheet emotions) are matched case-insensitively with
common synonyms (happy/happiness, sad/sadness, angry/anger, surprised/surprise, ...).
The binary set maps any emotion to its valence (negative / positive).
"""

from __future__ import annotations

import dataclasses

# Sharma et al. 2023 count disgust, sadness, repression and surprise as negative.
EMOTION_VALENCE: dict[str, str] = {
    "anger": "negative",
    "contempt": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sadness": "negative",
    "surprise": "negative",
    "repression": "negative",
    "tense": "negative",
    "happiness": "positive",
    "neutral": "neutral",
    "others": "other",
    "other": "other",
    "negative": "negative",
    "positive": "positive",
}

# Valence-ambiguous emotions: surprise is pleasant or unpleasant by context (and on a
# face mostly an open mouth), so the second valence map gives it a class of its own.
AMBIGUOUS_EMOTIONS = frozenset({"surprise"})
AMBIGUOUS = "ambiguous"

SYNONYMS: dict[str, str] = {
    "happy": "happiness",
    "sad": "sadness",
    "angry": "anger",
    "surprised": "surprise",
    "disgusted": "disgust",
    "fearful": "fear",
    "scared": "fear",
    "repressed": "repression",
}


def canonical(raw: str) -> str:
    """Lower-cased, trimmed label with synonyms folded onto one spelling."""
    name = raw.strip().lower()
    return SYNONYMS.get(name, name)


def with_ambiguous(valence: dict[str, str]) -> dict[str, str]:
    """The valence map with the valence-ambiguous emotions (surprise) as 'ambiguous'.

    The paper's map counts surprise as negative; this second map sets it apart, so a
    share of "negative" faces does not rise with every open mouth.
    """
    return {
        label: AMBIGUOUS if canonical(label) in AMBIGUOUS_EMOTIONS else value
        for label, value in valence.items()
    }


@dataclasses.dataclass(frozen=True)
class ClassSet:
    """Labels in output order with their valence; `by_valence` maps emotions onto them."""

    name: str
    labels: tuple[str, ...]
    valence: dict[str, str] = dataclasses.field(hash=False)
    by_valence: bool = False

    def assign(self, raw: str) -> str | None:
        """The label of this set for a raw label, or None when it has none (dropped)."""
        name = canonical(raw)
        if self.by_valence:
            name = EMOTION_VALENCE.get(name, "")
        for label in self.labels:
            if canonical(label) == name or (label == "others" and name == "other"):
                return label
        return None

    def to_json(self) -> dict:
        return {"name": self.name, "labels": list(self.labels), "valence": dict(self.valence)}


def _with_valence(name: str, labels: tuple[str, ...], by_valence: bool = False) -> ClassSet:
    valence = {label: EMOTION_VALENCE.get(canonical(label), "other") for label in labels}
    return ClassSet(name, labels, valence, by_valence)


CASME2 = _with_valence("casme2", ("disgust", "happiness", "surprise", "repression", "others"))
SAMM = _with_valence(
    "samm",
    ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise", "other"),
)
BINARY = _with_valence("binary", ("negative", "positive"), by_valence=True)
CLASS_SETS: dict[str, ClassSet] = {s.name: s for s in (CASME2, SAMM, BINARY)}


def custom_class_set(labels: list[str], valence: dict[str, str] | None = None) -> ClassSet:
    """A user's own labels; valence from `valence`, else known emotions, else 'other'."""
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"a class set needs at least two distinct labels, got {labels}")
    base = _with_valence("custom", tuple(labels))
    merged = {**base.valence, **(valence or {})}
    bad = {k: v for k, v in merged.items() if v not in ("negative", "positive", "neutral", "other")}
    if set(merged) != set(labels) or bad:
        raise ValueError(f"valence must map the labels to negative/positive/neutral/other: {bad}")
    return ClassSet("custom", tuple(labels), merged)


def get_class_set(name: str, labels: list[str] | None = None) -> ClassSet:
    """'casme2', 'samm', 'binary', or 'custom' with `labels`."""
    if name == "custom":
        return custom_class_set(list(labels or []))
    try:
        return CLASS_SETS[name]
    except KeyError:
        known = ", ".join((*CLASS_SETS, "custom"))
        raise ValueError(f"unknown class set {name!r}; known: {known}") from None
