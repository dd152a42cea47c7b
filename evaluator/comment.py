"""The short comment that explains a verdict, behind one interface chosen by settings.

- ``offline``: a paragraph written here from the evidence (nearest catalogue anime and their
  real scores, which given genres push the predicted score up or down according to the model,
  how confident the model is). Answers at once and is always stored first.
- ``gemini``: Google's Gemini through google-genai (``animesite.gemini``), JSON-structured
  output, a prompt grounded only on the same evidence. It runs in a Celery task and replaces the
  offline comment when it arrives; any failure leaves the offline one in place and is logged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field

from django.conf import settings

from catalog.tiers import Tier

logger = logging.getLogger(__name__)

# Below this top probability a comment says the model is unsure (four tiers: 0.25 is a guess).
UNSURE_BELOW = 0.45
MAX_COMMENT_CHARS = 1200


@dataclass(frozen=True)
class Neighbour:
    mal_id: int
    title: str
    score: float | None
    tier: str
    similarity: float


@dataclass(frozen=True)
class Evidence:
    """Everything a comment may rely on; nothing else reaches the prompt."""

    tier: str
    probabilities: dict[str, float]
    predicted_score: float
    neighbours: list[Neighbour]
    genre_effects: dict[str, float] = field(default_factory=dict)
    tier_set: list[str] = field(default_factory=list)  # tier values, best first
    set_level: float = 0.0
    reasons: list[dict[str, object]] = field(default_factory=list)  # {"key", "label", "effect"}, strongest first

    @property
    def tier_set_text(self) -> str:
        labels = [_label(t) for t in reversed(self.tier_set)]
        if not labels:
            return ""
        return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"

    @property
    def top_probability(self) -> float:
        """The probability of the predicted tier."""
        return self.probabilities.get(self.tier, 0.0)

    @property
    def unsure(self) -> bool:
        return self.top_probability < UNSURE_BELOW

    def as_prompt_data(self) -> dict[str, object]:
        data = asdict(self)
        data["tier"] = Tier(self.tier).label
        data["probabilities"] = {Tier(t).label: p for t, p in self.probabilities.items()}
        for n in data["neighbours"]:
            n["tier"] = Tier(n["tier"]).label if n["tier"] else "unrated"
        data["top_probability"] = self.top_probability
        data["unsure"] = self.unsure
        data["tier_set"] = {"tiers": self.tier_set_text, "level": self.set_level} if self.tier_set else None
        data["reasons"] = [{"input": r["label"], "effect_on_score": r["effect"]} for r in self.reasons[:8]]
        return data


class CommentError(Exception):
    """The comment backend failed; the caller keeps the offline comment."""


def _label(tier: str) -> str:
    return Tier(tier).label if tier else "unrated"


def offline_comment(evidence: Evidence) -> str:
    """A grounded paragraph from the evidence alone."""
    tier, chosen = _label(evidence.tier), evidence.probabilities.get(evidence.tier, 0.0)
    others = sorted(((t, p) for t, p in evidence.probabilities.items() if t != evidence.tier), key=lambda kv: -kv[1])
    if evidence.unsure:
        confidence = f"The model is unsure: it settles on {tier} ({chosen:.0%})"
    elif chosen < 0.6:
        confidence = f"The model leans towards {tier} ({chosen:.0%})"
    else:
        confidence = f"The model is fairly confident in {tier} ({chosen:.0%})"
    runner = ""
    if others and others[0][1] > chosen:
        # The decision weighs a two-tier miss more than a one-tier miss, so the chosen tier can
        # sit between two likelier-looking ones.
        runner = f"; {_label(others[0][0])} is likelier on its own ({others[0][1]:.0%}), but {tier} is the safer middle"
    elif others:
        runner = f"; {_label(others[0][0])} follows at {others[0][1]:.0%}"
    parts = [f"{confidence}, with a predicted MyAnimeList score of {evidence.predicted_score:.2f}{runner}."]
    if evidence.tier_set:
        parts.append(
            f"With {evidence.set_level:.0%} certainty it is {evidence.tier_set_text}"
            + (" (the set is wide: the evidence is mixed)." if len(evidence.tier_set) >= 3 else ".")
        )
    if evidence.neighbours:
        near = [
            f"{n.title} ({n.score:.2f}, {_label(n.tier)})" if n.score is not None else f"{n.title} (unscored)"
            for n in evidence.neighbours[:3]
        ]
        scored = [n.score for n in evidence.neighbours if n.score is not None]
        mean = f" Its five nearest catalogue anime average {sum(scored) / len(scored):.2f}." if scored else ""
        listed = f"{', '.join(near[:-1])} and {near[-1]}" if len(near) > 1 else near[0]
        parts.append(f"The synopsis reads most like {listed}.{mean}")
    if evidence.reasons:
        parts.extend(_reasons_sentences(evidence.reasons))
        return " ".join(parts)
    effects = sorted(evidence.genre_effects.items(), key=lambda kv: -abs(kv[1]))
    up = [f"{g} (+{e:.2f})" for g, e in effects if e >= 0.01][:3]
    down = [f"{g} ({e:.2f})" for g, e in effects if e <= -0.01][:3]
    clauses = []
    if up:
        clauses.append(f"{', '.join(up)} {'pushes' if len(up) == 1 else 'push'} the predicted score up")
    if down:
        clauses.append(
            f"{', '.join(down)} {'pulls' if len(down) == 1 else 'pull'} it down"
            if up
            else f"{', '.join(down)} {'pulls' if len(down) == 1 else 'pull'} the predicted score down"
        )
    if clauses:
        parts.append("Of the genres given, " + "; ".join(clauses) + ".")
    elif evidence.genre_effects:
        parts.append("The genres given barely move the prediction.")
    return " ".join(parts)


def _reasons_sentences(reasons: list[dict[str, object]]) -> list[str]:
    up = [r for r in reasons if float(r["effect"]) >= 0.01][:3]
    down = [r for r in reasons if float(r["effect"]) <= -0.01][:3]

    def listed(items: list[dict[str, object]]) -> str:
        shown = [f"{r['label']} ({float(r['effect']):+.2f})" for r in items]
        return shown[0] if len(shown) == 1 else f"{'; '.join(shown[:-1])} and {shown[-1]}"

    sentences = []
    if up:
        sentences.append(f"What lifts the predicted score most: {listed(up)}.")
    if down:
        sentences.append(f"What holds it back: {listed(down)}.")
    if not sentences:
        sentences.append("No single input moves the prediction much.")
    return sentences


# ---------------------------------------------------------------------------- Gemini

SYSTEM_INSTRUCTION = (
    "You explain the verdict of an anime quality classifier to a reader in 2-4 plain sentences. "
    "Use ONLY the JSON evidence given: the predicted tier, the tier probabilities, the predicted "
    "MyAnimeList score, the set of tiers that holds the true tier with the stated certainty, the "
    "nearest catalogue anime with their real scores and tiers, and the reasons: the inputs that "
    "moved the predicted score most, with their effects. Name the strongest reasons. Do not invent "
    "facts about any anime, studio, staff or plot. If 'unsure' is true, say clearly that the model "
    "is unsure. Answer in English."
)

RESPONSE_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "comment": {"type": "STRING", "description": "2-4 sentences explaining the verdict."},
        "unsure": {"type": "BOOLEAN", "description": "True when the model is unsure."},
    },
    "required": ["comment", "unsure"],
}


def gemini_prompt(evidence: Evidence) -> str:
    return "Evidence (JSON):\n" + json.dumps(evidence.as_prompt_data(), ensure_ascii=False, indent=1)


def gemini_comment(evidence: Evidence) -> str:
    """Ask Gemini for the comment. Raises ``CommentError`` on any failure."""
    try:
        from animesite.gemini import gemini_json

        payload = gemini_json(
            instruction=SYSTEM_INSTRUCTION,
            prompt=gemini_prompt(evidence),
            schema=RESPONSE_SCHEMA,
            temperature=0.2,
            max_output_tokens=400,
            timeout=settings.EVALUATOR_GEMINI_TIMEOUT,
            retries=settings.EVALUATOR_GEMINI_RETRIES,
        )
    except Exception as error:
        raise CommentError(f"{type(error).__name__}: {error}") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("comment"), str) or not payload["comment"].strip():
        raise CommentError(f"Gemini answered without a comment: {str(payload)[:200]}")
    text = payload["comment"].strip()[:MAX_COMMENT_CHARS]
    if evidence.unsure and "unsure" not in text.lower() and "uncertain" not in text.lower():
        # The instruction asks for it; the grounding rule is not left to the model's goodwill.
        text = f"The model is unsure about this one. {text}"
    return text


def comment_backend() -> str:
    return settings.EVALUATOR_COMMENT_BACKEND
