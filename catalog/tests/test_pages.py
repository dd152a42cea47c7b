"""The server-rendered pages on the real catalogue: home, browse (full page and HTMX partial),
detail, 404, bad filter values and escaping."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.db.models import F
from django.test import Client, override_settings

from catalog.models import Anime, Genre, Tag, TierThresholds
from catalog.tiers import TIER_ORDER

pytestmark = pytest.mark.usefixtures("catalog")

FMAB = 5114


def text_of(response) -> str:
    return response.content.decode()


def card_ids(html: str) -> list[int]:
    """MAL ids of the result cards, in page order (each card links its title once)."""
    return [int(m) for m in re.findall(r'class="card__link" href="/anime/(\d+)/"', html)]


def thresholds() -> TierThresholds:
    found = TierThresholds.objects.order_by("-computed_at", "-id").first()
    assert found is not None
    return found


# Home


def test_it_shows_the_home_page_with_thresholds_counts_and_genre_chips(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    html = text_of(response)
    cutoffs = thresholds()
    assert "Find your next anime" in html
    assert f"{Anime.objects.count():,}" in html
    for value in (cutoffs.top_tier_min, cutoffs.worthwhile_min, cutoffs.watchable_min):
        assert f"≥ {value:.2f}" in html
    assert f"&lt; {cutoffs.watchable_min:.2f}" in html
    for tier in TIER_ORDER:
        count = Anime.objects.filter(tier=tier).count()
        assert f"{count:,} anime" in html
        assert f'href="/anime/?tier={tier.value}"' in html
    # The search box sends its query to the search page.
    assert 'action="/search/"' in html
    assert 'name="q"' in html
    # Genre chips, grouped by kind, link to the filtered list.
    assert 'href="/anime/?genre=Action"' in html
    assert 'href="/anime/?genre=Slice+of+Life"' in html
    assert "<h3>Themes</h3>" in html and "<h3>Demographics</h3>" in html


def test_it_shows_the_most_watched_anime_of_each_tier_on_home(client: Client) -> None:
    html = text_of(client.get("/"))

    shown = set(card_ids(html))
    for tier in TIER_ORDER:
        most_watched = Anime.objects.filter(tier=tier).order_by(F("members").desc(nulls_last=True), "mal_id").first()
        assert most_watched is not None
        assert most_watched.mal_id in shown


# Browse


def test_it_lists_the_catalogue_by_members_with_24_cards_per_page(client: Client) -> None:
    response = client.get("/anime/")

    assert response.status_code == 200
    html = text_of(response)
    expected = list(
        Anime.objects.order_by(F("members").desc(nulls_last=True), "mal_id").values_list("mal_id", flat=True)[:24]
    )
    assert card_ids(html) == expected
    total = Anime.objects.count()
    assert f"<strong>{total:,}</strong> anime" in html
    assert f"page 1 of {(total + 23) // 24}" in html
    first = Anime.objects.get(mal_id=expected[0])
    assert f'alt="Cover of {first.title}"' in unescape(html)
    assert 'loading="lazy"' in html


def test_it_filters_by_genre_tier_and_sorts_by_score(client: Client) -> None:
    response = client.get("/anime/?genre=Action&tier=top-tier&sort=-score")

    assert response.status_code == 200
    matching = Anime.objects.filter(genres__name="Action", tier="top-tier")
    expected_first = matching.order_by(F("score").desc(nulls_last=True), "mal_id").first()
    assert expected_first is not None and expected_first.mal_id == FMAB
    html = text_of(response)
    ids = card_ids(html)
    assert ids[0] == expected_first.mal_id
    assert f"<strong>{matching.count():,}</strong> anime" in html
    scores = [a.score for a in response.context["page"].object_list]
    assert scores == sorted(scores, reverse=True)
    listed = Anime.objects.filter(mal_id__in=ids)
    assert all(a.tier == "top-tier" for a in listed)
    assert all("Action" in {g.name for g in a.genres.all()} for a in listed)
    # The form shows the filters in force.
    assert '<option value="top-tier" selected>' in html
    assert '<option value="-score" selected>' in html
    assert 'name="genre" value="Action" checked' in html


def test_it_keeps_tags_and_adult_titles_in_the_filter_form_and_the_page_links(client: Client) -> None:
    # The form is what HTMX sends on every change: a filter it does not hold is dropped.
    response = client.get("/anime/?tag=post+apocalypse&adult=include&sort=-score")

    assert response.status_code == 200
    html = text_of(response)
    tagged = Anime.objects.filter(tags__name="Post Apocalypse")
    assert f"<strong>{tagged.count():,}</strong> anime" in html
    assert tagged.count() > 24
    assert set(card_ids(html)) <= set(tagged.values_list("mal_id", flat=True))
    form = html.split('<form id="filters"', 1)[1].split("</form>", 1)[0]
    assert '<input type="checkbox" name="tag" value="Post Apocalypse" checked>' in form
    assert form.count('name="tag"') == Tag.objects.count() > 100  # every tag can be ticked
    assert '<select id="id_adult" name="adult"' in form
    assert '<option value="include" selected>Include adult titles</option>' in form
    assert '<div id="errors-tag" class="field-errors">' in form
    link = "/anime/?tag=post+apocalypse&amp;adult=include&amp;sort=-score&amp;page=2"
    assert f'href="{link}" hx-get="{link}"' in html

    # Without adult titles in the catalogue, the box shows only when the address asks for them.
    assert not Anime.objects.filter(adult=True).exists()
    assert 'name="adult"' not in text_of(client.get("/anime/"))


def test_it_shows_anime_without_a_member_count_as_not_known(client: Client) -> None:
    response = client.get(f"/anime/?page={-(-Anime.objects.count() // 24)}")

    html = text_of(response)
    unknown = [a for a in response.context["page"].object_list if a.members is None]
    assert len(unknown) == len(card_ids(html)) > 0  # unknown counts come last
    assert html.count('<span class="members">members not known</span>') == len(unknown)
    assert "None" not in html.split("<main", 1)[1]


def test_it_excludes_genres(client: Client) -> None:
    response = client.get("/anime/?exclude_genre=Action&exclude_genre=comedy")

    ids = card_ids(text_of(response))
    assert len(ids) == 24
    assert not Genre.objects.filter(anime__mal_id__in=ids, name__in=["Action", "Comedy"]).exists()
    expected_total = Anime.objects.exclude(genres__name__in=["Action", "Comedy"]).count()
    assert response.context["paginator"].count == expected_total


def test_it_keeps_the_filters_in_pagination_links_with_real_hrefs_and_hx_get(client: Client) -> None:
    response = client.get("/anime/?genre=Action&tier=top-tier&sort=-score&year_min=")

    html = text_of(response)
    link = "/anime/?genre=Action&amp;tier=top-tier&amp;sort=-score&amp;page=2"
    assert f'href="{link}" hx-get="{link}"' in html
    # Empty parameters are dropped from the links.
    assert "year_min=&amp;" not in html
    assert 'hx-push-url="true"' in html


def test_it_shows_the_second_page(client: Client) -> None:
    response = client.get("/anime/?page=2")

    expected = list(
        Anime.objects.order_by(F("members").desc(nulls_last=True), "mal_id").values_list("mal_id", flat=True)[24:48]
    )
    assert card_ids(text_of(response)) == expected
    assert "page 2 of" in text_of(response)


@pytest.mark.parametrize(("page", "expected_page"), [("abc", 1), ("999", "last"), ("-1", "last"), ("0", "last")])
def test_it_answers_any_page_number_without_error(client: Client, page: str, expected_page: int | str) -> None:
    response = client.get(f"/anime/?page={page}")

    assert response.status_code == 200
    last = response.context["paginator"].num_pages
    assert response.context["page"].number == (last if expected_page == "last" else expected_page)
    assert len(card_ids(text_of(response))) > 0


def test_it_renders_only_the_results_fragment_for_htmx(client: Client) -> None:
    response = client.get("/anime/?tier=terrible&sort=score", headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = text_of(response).strip()
    assert html.startswith('<section id="results"')
    # After the results come only the (empty) out-of-band error slots of the form's fields.
    tail = html.split("</section>", 1)[1]
    slots = re.findall(r"<div [^>]*></div>", tail)
    assert slots == [
        f'<div id="errors-{name}" class="field-errors" hx-swap-oob="true"></div>'
        for name in (
            "genre",
            "exclude_genre",
            "type",
            "year_min",
            "year_max",
            "score_min",
            "score_max",
            "tier",
            "sort",
            "list",
            "tag",
            "adult",
            "all",
        )
    ]
    assert "".join(tail.split()) == "".join(slots).replace(" ", "")
    assert "<html" not in html and "<form" not in html and "site-header" not in html
    expected_first = Anime.objects.filter(tier="terrible").order_by(F("score").asc(nulls_last=True), "mal_id").first()
    assert card_ids(html)[0] == expected_first.mal_id
    assert f"<strong>{Anime.objects.filter(tier='terrible').count():,}</strong> anime" in html
    assert "HX-Request" in response["Vary"]


def test_it_renders_the_whole_page_for_an_htmx_history_restore(client: Client) -> None:
    response = client.get("/anime/?tier=terrible", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})

    assert "<html" in text_of(response)
    assert 'id="filters"' in text_of(response)


def test_it_wires_the_filter_form_for_htmx_and_plain_get(client: Client) -> None:
    html = text_of(client.get("/anime/"))

    form = re.search(r"<form id=\"filters\"[^>]*>", html, re.S)
    assert form is not None
    tag = form.group(0)
    assert 'method="get"' in tag and 'action="/anime/"' in tag
    assert 'hx-get="/anime/"' in tag
    assert 'hx-trigger="change, submit"' in tag
    assert 'hx-target="#results"' in tag
    assert 'hx-push-url="true"' in tag
    assert '<button type="submit"' in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("year_min=abc", "Enter a number."),
        ("genre=NoSuchGenre", "Unknown genre &#x27;NoSuchGenre&#x27;"),
        ("exclude_genre=Nope", "Unknown genre &#x27;Nope&#x27;"),
        ("sort=zzz", "&#x27;zzz&#x27; is not a valid choice"),
        ("tier=best", "&#x27;best&#x27; is not a valid choice"),
        ("type=Novel", "&#x27;Novel&#x27; is not a valid choice"),
        ("score_min=11", "Ensure this value is less than or equal to 10."),
        ("year_min=2020&year_max=2000", "Must be at least year min (2020)."),
    ],
)
def test_it_shows_bad_filter_values_as_form_errors(client: Client, query: str, message: str) -> None:
    response = client.get(f"/anime/?{query}")

    assert response.status_code == 200
    html = text_of(response)
    assert "Some filters could not be applied." in html
    # Once in the summary above the results, once next to the field.
    assert html.count(message) == 2
    assert 'class="field-error"' in html
    assert "No results to show until the filters above are valid." in html
    assert card_ids(html) == []


def test_it_shows_form_errors_in_the_htmx_fragment_too(client: Client) -> None:
    response = client.get("/anime/?score_min=11&genre=NoSuchGenre", headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = text_of(response)
    assert "<strong>Min score:</strong> Ensure this value is less than or equal to 10." in html
    assert "<strong>Genres:</strong> Unknown genre &#x27;NoSuchGenre&#x27;" in html
    # The messages next to the fields are refreshed out of band, the valid ones emptied.
    assert (
        '<div id="errors-score_min" class="field-errors" hx-swap-oob="true"><p class="field-error">'
        "Min score: Ensure this value is less than or equal to 10.</p></div>"
    ) in html
    assert '<div id="errors-genre" class="field-errors" hx-swap-oob="true"><p class="field-error">Unknown genre' in html
    assert '<div id="errors-sort" class="field-errors" hx-swap-oob="true"></div>' in html


def test_it_never_answers_500_to_a_pile_of_nonsense(client: Client) -> None:
    response = client.get(
        "/anime/?year_min=abc&genre=NoSuchGenre&sort=zzz&page=-1&score_min=11&score_max=nan&year_max=1e99&tier=%25"
    )

    assert response.status_code == 200
    assert "Some filters could not be applied." in text_of(response)


def test_it_answers_a_nul_character_with_a_page_naming_the_parameter(client: Client) -> None:
    response = client.get("/anime/?tier=%00")

    assert response.status_code == 400
    assert "The parameter &#x27;tier&#x27; must not contain NUL characters." in text_of(response)
    assert "<h1>Bad request</h1>" in text_of(response)


# Detail


def test_it_shows_the_detail_page_of_an_anime(client: Client) -> None:
    response = client.get(f"/anime/{FMAB}/")

    assert response.status_code == 200
    html = unescape(text_of(response))
    anime = Anime.objects.get(mal_id=FMAB)
    assert "<h1>Fullmetal Alchemist: Brotherhood</h1>" in html
    assert anime.title_japanese in html
    for synonym in anime.title_synonyms:
        assert synonym in html
    assert "9.11" in html
    assert "2,271,024 users" in html or f"{anime.scored_by:,} users" in html
    assert f"{anime.members:,}" in html and f"{anime.favorites:,}" in html
    assert f"#{anime.rank}" in html
    # Genres, themes and demographic chips on separate rows, each linking to the filtered list.
    assert re.search(r'Genres</span><ul class="chips">.*href="/anime/\?genre=Action">Action</a>', html)
    assert re.search(r'Themes</span><ul class="chips">.*href="/anime/\?genre=Military">Military</a>', html)
    assert re.search(r'Demographic</span><ul class="chips">.*href="/anime/\?genre=Shounen">Shounen</a>', html)
    cutoffs = thresholds()
    assert f"Top-tier: score ≥ {cutoffs.top_tier_min:.2f} (quartiles)" in html
    assert f'href="{anime.mal_url}" rel="noopener noreferrer external"' in html
    # Synopsis paragraphs.
    assert "<p>After a horrific alchemy experiment" in html
    assert "Bones" in html and "Spring 2009" in html and "Apr 5, 2009 to Jul 4, 2010" in html
    assert "MyAnimeList id 5114" in html


def test_it_shows_a_finished_detail_page_of_an_anime_nobody_described(client: Client) -> None:
    # Shinken Densetsu: Tight Road (1994): no synopsis, no score, no member count, and episode
    # titles that were only "Episode 1" to "Episode 13".
    anime = Anime.objects.get(mal_id=22313)
    assert (anime.synopsis, anime.score, anime.members, anime.episode_titles) == ("", None, None, [])

    html = unescape(text_of(client.get("/anime/22313/")))
    main = html.split("<main", 1)[1]
    assert "<h1>Shinken Densetsu: Tight Road</h1>" in main
    assert "MyAnimeList has no synopsis of this TV series yet" in main
    assert "Not scored on MyAnimeList yet, so no tier." in main
    assert "–<small>not known</small>" in main
    assert "episode title" not in main and "Episode 1" not in main
    assert "None" not in main


def test_it_links_the_other_entries_of_the_franchise(client: Client) -> None:
    anime = Anime.objects.get(mal_id=FMAB)
    related = Anime.objects.filter(franchise_key=anime.franchise_key).exclude(mal_id=FMAB)
    assert related.exists()

    html = text_of(client.get(f"/anime/{FMAB}/"))

    assert "In the same franchise" in html
    for other in related:
        assert f'href="/anime/{other.mal_id}/"' in html


def test_it_answers_404_for_an_unknown_anime(client: Client) -> None:
    assert client.get("/anime/0/").status_code == 404
    assert client.get("/anime/999999999/").status_code == 404
    assert client.get("/anime/abc/").status_code == 404


@override_settings(DEBUG=False)
def test_it_shows_the_styled_404_page_when_debug_is_off(client: Client) -> None:
    response = client.get("/anime/0/")

    assert response.status_code == 404
    html = text_of(response)
    assert "<h1>Page not found</h1>" in html
    assert "<code>/anime/0/</code>" in html
    assert "css/site.css" in html
    assert 'href="/anime/"' in html


def test_it_renders_the_standalone_500_page(rf) -> None:
    from django.views.defaults import server_error

    response = server_error(rf.get("/anime/"))

    assert response.status_code == 500
    html = text_of(response)
    assert "<h1>Something went wrong</h1>" in html
    assert "css/site.css" in html


# Safety


def test_it_escapes_html_in_titles_and_synopses(client: Client) -> None:
    Anime.objects.create(
        mal_id=99_999_999,
        title="<script>alert(1)</script> Title",
        title_english="<b>bold</b>",
        synopsis="First <script>alert(1)</script>\n\nSecond <img src=x onerror=alert(2)>",
        members=10**9,
        franchise_key="xss-check",
    )

    for url in ("/anime/99999999/", "/anime/"):
        html = text_of(client.get(url))
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Title" in html
        assert "<b>bold</b>" not in html
    detail = text_of(client.get("/anime/99999999/"))
    assert "<p>First &lt;script&gt;alert(1)&lt;/script&gt;</p>" in detail
    assert "<img src=x" not in detail


def test_it_sends_a_strict_csp_and_has_no_inline_scripts_or_styles(client: Client) -> None:
    for url in ("/", "/anime/", f"/anime/{FMAB}/"):
        response = client.get(url)
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        html = text_of(response)
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
        assert " style=" not in html and "<style" not in html
        assert '<script src="/static/js/htmx.min.js" defer></script>' in html
        assert "X-CSRFToken" in html
