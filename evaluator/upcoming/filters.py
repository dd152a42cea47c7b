"""The one filter of the upcoming page and API: the browse filter's parameters where they fit an
anime with no score yet (genres, tags, type, year, list, adult), and ``tier`` for the predicted
tier. Score filters and the sort do not fit (no score yet; the list is in airing order)."""

from __future__ import annotations

import dataclasses

from django.db.models import QuerySet

from catalog.filters import AnimeCriteria, AnimeFilter, CaseInsensitiveChoiceFilter
from catalog.models import Anime
from catalog.tiers import Tier
from evaluator.models import UpcomingPrediction


class UpcomingFilter(AnimeFilter):
    score_min = None
    score_max = None
    sort = None
    tier = CaseInsensitiveChoiceFilter(
        field_name="tier",
        choices=Tier.choices,
        label="Predicted tier",
        empty_label="Any predicted tier",
        help_text="The tier the model predicts.",
    )

    def criteria(self) -> AnimeCriteria:
        # ``tier`` here is the predicted tier (the prediction's), never the anime's own (none yet).
        return dataclasses.replace(super().criteria(), tier="", sort="")

    def filter_queryset(self, queryset: QuerySet[Anime]) -> QuerySet[Anime]:
        return self.criteria().apply(queryset)

    def predictions(self) -> QuerySet[UpcomingPrediction]:
        """The stored predictions of the anime these parameters keep, soonest season first and
        the most promising first within a season (call after ``is_valid()``)."""
        criteria = self.criteria()
        if criteria.is_empty and not criteria.adult:
            # No anime filter: leave out the (few or no) adult titles. A join on the flag drove the
            # query from the whole catalogue (13.5 ms on SQLite against 0.8 ms for this).
            predictions = UpcomingPrediction.objects.without_adult()
        else:
            predictions = UpcomingPrediction.objects.filter(anime_id__in=self.qs.values("mal_id"))
        tier = self.form.cleaned_data.get("tier")
        if tier:
            predictions = predictions.filter(tier=tier)
        return predictions.soonest_first()
