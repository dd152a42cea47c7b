"""The Django admin on the real catalogue: login, list, filters, search, change form, actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db.models import F
from django.test import Client

from catalog.models import Anime, Genre, TierThresholds
from catalog.tiers import Tier, TierScheme, cutoffs_compute
from testsupport.admin import admin_form_data

pytestmark = pytest.mark.usefixtures("catalog")

CHANGELIST = "/admin/catalog/anime/"


def changelist(client: Client, query: str = "") -> Any:
    response = client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    return response.context["cl"]


def listed_ids(cl: Any) -> set[int]:
    return set(cl.queryset.values_list("mal_id", flat=True))


def test_it_shows_the_login_page_and_sends_anonymous_users_to_it(client: Client) -> None:
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={CHANGELIST}"

    login = client.get("/admin/login/")
    assert login.status_code == 200
    assert b'name="username"' in login.content and b'name="password"' in login.content


def test_it_logs_a_staff_user_in(client: Client, admin_user: Any) -> None:
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "password"})
    assert response.status_code == 302
    assert client.get(CHANGELIST).status_code == 200


def test_it_lists_anime_with_their_numbers_tier_and_mal_link(admin_client: Client) -> None:
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()

    cl = response.context["cl"]
    assert cl.result_count == Anime.objects.count() > 21_000
    # Most members first (Shingeki no Kyojin, Death Note, FMA:B), the thousands of anime whose
    # member count is unknown last.
    shown = [anime.mal_id for anime in cl.result_list]
    assert shown == list(
        Anime.objects.order_by(F("members").desc(nulls_last=True), "mal_id").values_list("mal_id", flat=True)[:50]
    )
    assert shown[:3] == [16498, 1535, 5114]
    assert "Fullmetal Alchemist: Brotherhood" in html
    assert '<span class="tier-badge tier-top-tier">Top-tier</span>' in html
    assert (
        '<a href="https://myanimelist.net/anime/5114/Fullmetal_Alchemist__Brotherhood" target="_blank" '
        'rel="noopener noreferrer">MAL ↗</a>'
    ) in html
    for column in ("Type", "Year", "Score", "Scored by", "Members", "Tier", "MyAnimeList"):
        assert f">{column}</a>" in html or f">{column}</span>" in html, column
    assert "/static/catalog/admin.css" in html


def test_it_lists_a_page_in_a_few_queries(admin_client: Client, django_assert_max_num_queries: Any) -> None:
    # session, user, count, total count, page, and the filters' choices (genres, decades, types, sources)
    with django_assert_max_num_queries(12):
        admin_client.get(CHANGELIST)


def test_it_sorts_unknown_numbers_last_both_ways_and_says_why_an_anime_has_no_tier(admin_client: Client) -> None:
    columns = list(changelist(admin_client).list_display)
    for name in ("members_column", "score_column"):
        field = name.removesuffix("_column")
        known = Anime.objects.exclude(**{field: None})
        for prefix, first in (("", known.order_by(field, "mal_id")), ("-", known.order_by(f"-{field}", "mal_id"))):
            cl = changelist(admin_client, f"o={prefix}{columns.index(name)}")
            rows = list(cl.result_list)
            assert all(getattr(a, field) is not None for a in rows), (name, prefix)
            assert getattr(rows[0], field) == getattr(first.first(), field)
    # The last page of the score column ends with the unscored anime.
    unscored = Anime.objects.filter(score=None).count()
    assert unscored > 50
    last = changelist(admin_client, f"o=-{columns.index('score_column')}&p={-(-Anime.objects.count() // 50)}")
    assert {a.score for a in last.result_list} == {None}

    html = admin_client.get(f"{CHANGELIST}?q=35085").content.decode()  # a 10.00 from one rating
    assert '<span class="tier-badge tier-none">Not enough ratings</span>' in html
    unscored_id = Anime.objects.filter(score=None).order_by("mal_id").values_list("mal_id", flat=True)[0]
    html = admin_client.get(f"{CHANGELIST}?q={unscored_id}").content.decode()
    assert '<span class="tier-badge tier-none">No score</span>' in html


def test_it_filters_by_type(admin_client: Client) -> None:
    cl = changelist(admin_client, "type__exact=Movie")
    assert cl.result_count == Anime.objects.filter(type="Movie").count() > 4_000
    assert 199 in listed_ids(cl)  # Sen to Chihiro no Kamikakushi
    assert 5114 not in listed_ids(cl)


def test_it_filters_by_tier(admin_client: Client) -> None:
    cl = changelist(admin_client, "tier__exact=terrible")
    assert listed_ids(cl) == set(Anime.objects.filter(tier=Tier.TERRIBLE).values_list("mal_id", flat=True))
    assert 5114 not in listed_ids(cl)


def test_it_filters_by_genre(admin_client: Client) -> None:
    military = Genre.objects.get(name="Military")
    cl = changelist(admin_client, f"genres__id__exact={military.pk}")
    assert listed_ids(cl) == set(military.anime.values_list("mal_id", flat=True))
    assert 5114 in listed_ids(cl)
    assert 1535 not in listed_ids(cl)  # Death Note


def test_it_filters_by_decade(admin_client: Client) -> None:
    response = admin_client.get(CHANGELIST)
    assert "?decade=2000" in response.content.decode() and "2000s" in response.content.decode()

    cl = changelist(admin_client, "decade=2000")
    assert listed_ids(cl) == set(Anime.objects.filter(year__gte=2000, year__lte=2009).values_list("mal_id", flat=True))
    assert 5114 in listed_ids(cl)  # 2009
    assert 16498 not in listed_ids(cl)  # Shingeki no Kyojin, 2013

    assert changelist(admin_client, "decade=nonsense").result_count == 0


def test_it_filters_by_source(admin_client: Client) -> None:
    cl = changelist(admin_client, "source__exact=Light novel")
    assert cl.result_count == Anime.objects.filter(source="Light novel").count() > 300
    assert {a.source for a in cl.queryset} == {"Light novel"}


def test_it_finds_an_anime_by_a_synonym(admin_client: Client) -> None:
    cl = changelist(admin_client, "q=Sorcery+Fight")
    # Jujutsu Kaisen and its 2nd season both list "Sorcery Fight" among their synonyms.
    assert listed_ids(cl) == {40748, 51009}
    assert "Sorcery Fight" in Anime.objects.get(mal_id=40748).title_synonyms
    assert changelist(admin_client, "q=FMAB").queryset.get().mal_id == 5114


def test_it_finds_an_anime_by_english_and_japanese_titles_and_id(admin_client: Client) -> None:
    assert 16498 in listed_ids(changelist(admin_client, "q=Attack+on+Titan"))
    assert 5114 in listed_ids(changelist(admin_client, "q=鋼の錬金術師"))
    assert listed_ids(changelist(admin_client, "q=5114")) >= {5114}


def test_it_opens_the_change_page_with_read_only_provenance(admin_client: Client) -> None:
    response = admin_client.get("/admin/catalog/anime/5114/change/")
    assert response.status_code == 200
    html = response.content.decode()
    form = response.context["adminform"].form

    assert "Fullmetal Alchemist: Brotherhood" in html
    # Every source merged into the record, in order, member estimates with their date.
    assert (
        "anime-mapper+jikan-season+jikan-flat+members-estimate 2025-01+seed+jikan+members-estimate 2018-05-07" in html
    )
    for read_only in ("provenance", "fetched_at", "created_at", "updated_at", "franchise_key", "tier", "mal_id"):
        assert read_only not in form.fields, read_only
    assert "franchise_override" in form.fields
    assert "genres" in form.fields


def test_it_saves_a_franchise_override_into_the_franchise_key(admin_client: Client) -> None:
    url = "/admin/catalog/anime/5114/change/"
    page = admin_client.get(url)
    # From the related-anime graph: the 2003 series (121) is the franchise's first entry.
    assert Anime.objects.get(mal_id=5114).franchise_key == "fullmetal-alchemist-121"

    response = admin_client.post(url, admin_form_data(page, franchise_override="fma-brotherhood"))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    anime = Anime.objects.get(mal_id=5114)
    assert (anime.franchise_override, anime.franchise_key) == ("fma-brotherhood", "fma-brotherhood")
    assert set(anime.genres.values_list("name", flat=True)) == {
        "Action",
        "Adventure",
        "Drama",
        "Fantasy",
        "Military",
        "Shounen",
    }
    assert anime.title_synonyms == [
        "Hagane no Renkinjutsushi: Fullmetal Alchemist",
        "Fullmetal Alchemist (2009)",
        "FMA",
        "FMAB",
    ]

    # Clearing the override derives the key from the relations again.
    page = admin_client.get(url)
    admin_client.post(url, admin_form_data(page, franchise_override=""))
    anime.refresh_from_db()
    assert anime.franchise_key == Anime.objects.get(mal_id=121).franchise_key == "fullmetal-alchemist-121"


def test_it_rejects_synonyms_that_are_not_a_list_of_strings(admin_client: Client) -> None:
    url = "/admin/catalog/anime/5114/change/"
    page = admin_client.get(url)

    response = admin_client.post(url, admin_form_data(page, title_synonyms='"FMAB"', studios="[1, 2]"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["title_synonyms"] == ['Enter a JSON list of strings, e.g. ["FMA", "FMAB"].']
    assert errors["studios"] == ['Enter a JSON list of strings, e.g. ["Bones"].']
    assert Anime.objects.get(mal_id=5114).title_synonyms[-1] == "FMAB"


def test_it_retiers_when_a_score_is_edited(admin_client: Client) -> None:
    url = "/admin/catalog/anime/5114/change/"
    page = admin_client.get(url)

    response = admin_client.post(url, admin_form_data(page, score="5.5"))
    assert response.status_code == 302

    anime = Anime.objects.get(mal_id=5114)
    assert (anime.score, anime.tier) == (5.5, Tier.TERRIBLE)


def test_it_adds_an_anime_with_a_derived_franchise_key_and_tier(admin_client: Client) -> None:
    page = admin_client.get("/admin/catalog/anime/add/")
    assert "mal_id" in page.context["adminform"].form.fields

    # No relations yet: it joins the franchise by its title. Rated by 5,000: enough to be tiered.
    data = admin_form_data(
        page, mal_id="999999", title="Fullmetal Alchemist: The Sacred Star of Milos", score="7.2", scored_by="5000"
    )
    data["genres"] = [str(Genre.objects.get(name="Action").pk)]
    response = admin_client.post("/admin/catalog/anime/add/", data, follow=True)
    assert response.redirect_chain, response.context["adminform"].form.errors if response.context else ""

    anime = Anime.objects.get(mal_id=999999)
    thresholds = TierThresholds.objects.latest()
    assert anime.franchise_key == Anime.objects.get(mal_id=5114).franchise_key == "fullmetal-alchemist-121"
    assert anime.score_reliable
    assert anime.tier == thresholds.cutoffs.tier_of(7.2) == Tier.WORTHWHILE  # 7.01 <= 7.2 < 7.46
    assert list(anime.genres.values_list("name", flat=True)) == ["Action"]
    assert any(str(m).startswith("Tier: Worthwhile; ") for m in get_messages(response.wsgi_request))


def test_it_adds_an_anime_rated_by_too_few_without_a_tier(admin_client: Client) -> None:
    page = admin_client.get("/admin/catalog/anime/add/")
    data = admin_form_data(page, mal_id="999998", title="A Short Film Few Have Seen", score="8.9", scored_by="40")
    response = admin_client.post("/admin/catalog/anime/add/", data, follow=True)
    assert response.redirect_chain

    anime = Anime.objects.get(mal_id=999998)
    assert (anime.score_reliable, anime.tier) == (False, "")
    assert any(str(m).startswith("Tier: none (not enough ratings yet); ") for m in get_messages(response.wsgi_request))


def test_it_recomputes_tiers_with_the_seed_cutoffs(admin_client: Client) -> None:
    # Real reliably rated rows scored exactly 8.0: Top-tier under the quartiles (>= 7.46),
    # Worthwhile under the seed's cut-offs (8.0 < 8.10). Those rated by too few stay untiered.
    at_eight = set(Anime.objects.reliably_rated().filter(score=8.0).values_list("mal_id", flat=True))
    assert {14813, 1482, 2759} <= at_eight
    assert set(Anime.objects.filter(mal_id__in=at_eight).values_list("tier", flat=True)) == {Tier.TOP_TIER}
    untiered = set(Anime.objects.filter(score_reliable=False).values_list("mal_id", flat=True))
    assert Anime.objects.filter(score=8.0, mal_id__in=untiered).exists()
    before = TierThresholds.objects.count()

    response = admin_client.post(
        CHANGELIST, {"action": "recompute_tiers_seed", "_selected_action": ["5114"]}, follow=True
    )
    assert response.status_code == 200

    latest = TierThresholds.objects.latest()
    assert TierThresholds.objects.count() == before + 1
    assert (latest.scheme, latest.watchable_min, latest.worthwhile_min, latest.top_tier_min) == (
        TierScheme.SEED,
        7.20,
        7.60,
        8.10,
    )
    assert set(Anime.objects.filter(mal_id__in=at_eight).values_list("tier", flat=True)) == {Tier.WORTHWHILE}
    assert Anime.objects.get(mal_id=5114).tier == Tier.TOP_TIER  # 9.11
    rated = Anime.objects.reliably_rated()
    assert not rated.filter(score__gte=8.1).exclude(tier=Tier.TOP_TIER).exists()
    assert not rated.filter(score__lt=7.2).exclude(tier=Tier.TERRIBLE).exists()
    assert not Anime.objects.filter(mal_id__in=untiered).exclude(tier="").exists()

    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(messages) == 1
    assert messages[0].startswith(
        "Seed project's fixed cut-offs (7.20 / 7.60 / 8.10): Top-tier ≥ 8.10, Worthwhile ≥ 7.60, Watchable ≥ 7.20. "
    )
    assert " anime changed tier" in messages[0]
    changed = int(messages[0].split(". ")[1].split(" anime")[0])
    assert changed >= len(at_eight)


def test_it_recomputes_quartile_tiers(admin_client: Client) -> None:
    admin_client.post(CHANGELIST, {"action": "recompute_tiers_seed", "_selected_action": ["5114"]})
    assert TierThresholds.objects.latest().scheme == TierScheme.SEED

    response = admin_client.post(
        CHANGELIST, {"action": "recompute_tiers_quartiles", "_selected_action": ["5114"]}, follow=True
    )
    assert response.status_code == 200

    latest = TierThresholds.objects.latest()
    # Quartiles of the reliably rated anime's scores only.
    expected = cutoffs_compute(
        scheme=TierScheme.QUARTILES, scores=Anime.objects.reliably_rated().values_list("score", flat=True)
    )
    assert latest.scheme == TierScheme.QUARTILES
    assert latest.cutoffs == expected
    assert (latest.watchable_min, latest.worthwhile_min, latest.top_tier_min) == (6.52, 7.01, 7.46)
    assert set(Anime.objects.reliably_rated().filter(score=8.0).values_list("tier", flat=True)) == {Tier.TOP_TIER}
    assert not Anime.objects.filter(score_reliable=False).exclude(tier="").exists()
    message = [str(m) for m in get_messages(response.wsgi_request)][-1]  # after the seed run's
    assert message.startswith(
        f"Quartiles of the catalogue's scores: Top-tier ≥ {expected.top_tier:.2f}, "
        f"Worthwhile ≥ {expected.worthwhile:.2f}, Watchable ≥ {expected.watchable:.2f}. "
    )
    counts = {tier: Anime.objects.filter(tier=tier).count() for tier in Tier.values}
    assert all(0.2 < n / sum(counts.values()) < 0.3 for n in counts.values()), counts


def test_it_lists_genres_with_their_anime_count(admin_client: Client) -> None:
    response = admin_client.get("/admin/catalog/genre/?kind__exact=demographic")
    assert response.status_code == 200
    cl = response.context["cl"]
    assert {g.name: g.anime_count for g in cl.queryset} == {
        g.name: g.anime.count() for g in Genre.objects.filter(kind="demographic")
    }
    assert "Shounen" in response.content.decode()


def test_it_shows_the_tier_thresholds_history_read_only(admin_client: Client) -> None:
    response = admin_client.get("/admin/catalog/tierthresholds/")
    assert response.status_code == 200
    assert "quartiles" in response.content.decode().lower()
    assert admin_client.get("/admin/catalog/tierthresholds/add/").status_code == 403
    row = TierThresholds.objects.latest()
    change = admin_client.get(f"/admin/catalog/tierthresholds/{row.pk}/change/")
    assert change.status_code == 200  # a view-only page
    assert change.context["has_change_permission"] is False


def test_it_shows_the_catalogue_imports_read_only(admin_client: Client) -> None:
    from catalog.models import CatalogImport

    run = CatalogImport.objects.create(owner="host:1", total=21_842, done=5_000)
    response = admin_client.get("/admin/catalog/catalogimport/")
    assert response.status_code == 200
    assert "5,000 / 21,842 (23%)" in response.content.decode()
    assert admin_client.get("/admin/catalog/catalogimport/add/").status_code == 403
    change = admin_client.get(f"/admin/catalog/catalogimport/{run.pk}/change/")
    assert change.status_code == 200 and change.context["has_change_permission"] is False
