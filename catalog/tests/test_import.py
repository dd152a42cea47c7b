from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Anime, TierThresholds
from catalog.services import anime_import
from catalog.tiers import Tier
from testsupport.catalog import catalogue_empty


@pytest.fixture
def empty_catalog(db) -> None:
    """Start from nothing (inside the test's transaction, so the session catalogue returns)."""
    catalogue_empty()


def write_json(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


# Anime whose real records the merge test imports: Frieren is in five records of ../shared/data
# (anime-mapper, a season dump, the aired-text dump, a 2025 member estimate, the seed), Cowboy
# Bebop in six (anime-mapper, the aired-text dump, the seed, the complete Jikan objects, member
# estimates of 2025 and 2018); of One Piece Fan Letter only the seed's record is taken.
MERGED_IDS = (52991, 1)
SEED_ONLY_ID = 60022


@pytest.fixture(scope="module")
def merge_extract(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding those anime's records from every file of ../shared/data that has them,
    each in a file of its source's shape (the importer tells shapes apart by their fields): the
    same merge as the whole import's, at a fraction of its time."""
    folder = tmp_path_factory.mktemp("merge-extract")
    wanted = set(MERGED_IDS)

    def listed(path: Path, key: str, ids: set[int]) -> list[dict]:
        return [item for item in json.loads(path.read_text()) if item[key] in ids]

    write_json(folder / "seed.json", listed(shared_data / "seed" / "output.json", "ID", wanted | {SEED_ONLY_ID}))
    write_json(folder / "jikan-top.json", listed(shared_data / "jikan-top" / "anime_data.json", "mal_id", wanted))
    write_json(folder / "jikan-flat.json", listed(shared_data / "jikan-flat" / "anime_data.json", "mal_id", wanted))
    seasons = sorted((shared_data / "jikan-seasons").rglob("*.json"))
    write_json(folder / "seasons.json", [item for path in seasons for item in listed(path, "mal_id", wanted)])
    with (
        gzip.open(shared_data / "anime-mapper" / "anime.jsonl.gz", "rt", encoding="utf-8") as lines,
        gzip.open(folder / "anime-mapper.jsonl.gz", "wt", encoding="utf-8") as out,
    ):
        out.writelines(line for line in lines if json.loads(line).get("idMal") in wanted)
    with (
        open(shared_data / "members" / "estimates.csv", encoding="utf-8", newline="") as rows,
        open(folder / "estimates.csv", "w", encoding="utf-8", newline="") as out,
    ):
        reader = csv.DictReader(rows)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        writer.writerows(row for row in reader if int(row["mal_id"]) in wanted)
    return folder


def test_it_imports_the_seed_export_and_splits_its_genres(empty_catalog, shared_data):
    summary = anime_import(paths=[shared_data / "seed" / "output.json"])

    assert summary.created == 2041
    assert summary.skipped_total == 0
    frieren = Anime.objects.get(mal_id=52991)
    assert frieren.title == "Sousou no Frieren"
    assert frieren.score == 9.3
    assert frieren.members == 1089617
    assert frieren.episodes == 28
    assert frieren.year == 2023
    assert frieren.provenance == "seed"
    kinds = {g.name: g.kind for g in frieren.genres.all()}
    assert kinds == {"Adventure": "genre", "Drama": "genre", "Fantasy": "genre", "Shounen": "demographic"}
    assert "\r" not in frieren.synopsis
    assert "\n\n" in frieren.synopsis


def test_it_imports_complete_jikan_objects(empty_catalog, shared_data):
    path = shared_data / "jikan-top" / "anime_data.json"
    objects = json.loads(path.read_text())

    summary = anime_import(paths=[path])

    # No minimum of members by default (CATALOG_MIN_MEMBERS is 0), and the top 500 by
    # popularity hold no music video, commercial or adult title: every object is stored.
    assert summary.created == len(objects) == Anime.objects.count() == 500
    assert not summary.filtered and summary.skipped_total == 0
    fma = Anime.objects.get(mal_id=5114)
    assert fma.title == "Fullmetal Alchemist: Brotherhood"
    assert fma.title_english == "Fullmetal Alchemist: Brotherhood"
    assert fma.aired_from.isoformat() == "2009-04-05"
    assert fma.studios == ["Bones"]
    assert fma.source == "Manga"
    assert {g.name for g in fma.genres.filter(kind="theme")} == {"Military"}
    assert {g.name for g in fma.genres.filter(kind="demographic")} == {"Shounen"}
    assert fma.image_url.startswith("https://cdn.myanimelist.net/images/anime/")
    # Jikan's titles list: the other languages kept, the titles stored elsewhere not repeated.
    spirited_away = Anime.objects.get(mal_id=199)
    assert spirited_away.title_other == ["Chihiros Reise ins Zauberland", "El viaje de Chihiro", "Le Voyage de Chihiro"]
    titans = Anime.objects.get(mal_id=16498)
    assert titans.title_english == "Attack on Titan"
    assert titans.title_other == ["Ataque a los Titanes", "L'Attaque des Titans"]


def test_it_imports_flattened_season_dumps_from_a_folder(empty_catalog, shared_data):
    summary = anime_import(paths=[shared_data / "jikan-seasons"], min_members=100_000)

    # ../shared/data/README.md: 3,961 records, 1,606 of them with members >= 100,000.
    assert summary.read == 3961
    assert summary.created == Anime.objects.count() == 1606
    assert dict(summary.filtered) == {"members < 100,000": 3961 - 1606}
    assert not Anime.objects.filter(members__lt=100_000).exists()
    jjk = Anime.objects.get(mal_id=40748)
    assert jjk.title_synonyms == ["Sorcery Fight", "JJK"]
    assert jjk.season == "fall"
    assert jjk.year == 2020
    assert jjk.studios == ["MAPPA"]
    assert {g.name: g.kind for g in jjk.genres.all()} == {
        "Action": "genre",
        "Award Winning": "genre",
        "Supernatural": "genre",
        "School": "theme",
        "Shounen": "demographic",
    }


def test_it_keeps_records_without_members_unless_a_minimum_is_asked(empty_catalog, shared_data, settings):
    settings.CATALOG_INCLUDE = []  # the default
    flat = shared_data / "jikan-flat" / "anime_data.json"
    # What the catalogue leaves out whatever the minimum: music videos, PVs, commercials, adult.
    left_out = {"type Music": 39, "type PV": 7, "type CM": 3, "adult": 19}

    summary = anime_import(paths=[flat], min_members=1)
    assert summary.created == 0
    assert dict(summary.filtered) == {"members unknown": 2000 - 68, **left_out}

    summary = anime_import(paths=[flat])
    assert summary.created == Anime.objects.count() == 2000 - 68
    assert dict(summary.filtered) == left_out
    assert not Anime.objects.exclude(members=None).exists()
    reze = Anime.objects.get(mal_id=57555)
    assert reze.aired_from.isoformat() == "2025-09-19"
    assert reze.aired_from == reze.aired_to
    assert reze.studios == ["MAPPA"]


def test_it_reads_a_jikan_page_a_single_object_and_json_lines(empty_catalog, shared_data, shared_fixtures, tmp_path):
    top = json.loads((shared_data / "jikan-top" / "anime_data.json").read_text())
    write_json(tmp_path / "page.json", {"data": top[:3], "pagination": {"has_next_page": True}})
    write_json(tmp_path / "one.json", top[3])
    (tmp_path / "more.jsonl").write_text("\n".join(json.dumps(obj) for obj in top[4:6]) + "\n", encoding="utf-8")

    summary = anime_import(paths=[tmp_path, shared_fixtures / "jikan" / "anime-457.json"])

    assert summary.created == 7
    assert set(Anime.objects.values_list("mal_id", flat=True)) == {obj["mal_id"] for obj in top[:6]} | {457}
    mushishi = Anime.objects.get(mal_id=457)
    assert {g.name for g in mushishi.genres.filter(kind="theme")} == {"Adult Cast", "Historical", "Iyashikei"}
    assert mushishi.score == 8.67


MERGE_FIELDS = (
    "title", "title_english", "title_japanese", "title_synonyms", "studios", "duration", "synopsis", "score",
    "scored_by", "members", "members_as_of", "members_estimated", "favorites", "mal_url", "provenance", "fetched_at",
)  # fmt: skip


def merged_rows(ids: tuple[int, ...]) -> dict[int, tuple]:
    return {
        anime.mal_id: (
            tuple(getattr(anime, name) for name in MERGE_FIELDS),
            sorted(anime.genres.values_list("name", flat=True)),
            sorted(anime.tags.values_list("name", flat=True)),
            sorted(anime.relations.values_list("related_mal_id", "relation")),
        )
        for anime in Anime.objects.filter(mal_id__in=ids)
    }


def test_it_merges_records_of_one_anime_newest_first(catalog, merge_extract):
    whole_import = merged_rows(MERGED_IDS)  # the session's catalogue: ../shared/data imported whole
    catalogue_empty()

    summary = anime_import(paths=[merge_extract])

    assert (summary.read, summary.created) == (5 + 6 + 1, 3)
    frieren = Anime.objects.get(mal_id=52991)
    # Counts from the newest source that has them (season dump of 2026-02; anime-mapper, fetched
    # later, has none), text the older ones lack.
    assert (frieren.members, frieren.members_as_of, frieren.members_estimated) == (
        1288804,
        dt.date(2026, 2, 15),
        False,
    )
    assert frieren.favorites == 80859  # only the season dump counts favorites
    assert frieren.title_english == "Frieren: Beyond Journey's End"
    assert "Frieren The Slayer" in frieren.title_synonyms
    assert frieren.studios == ["Madhouse"]
    assert frieren.provenance == "anime-mapper+jikan-season+jikan-flat+members-estimate 2025-01+seed"
    assert frieren.fetched_at == dt.datetime(2026, 6, 30, tzinfo=dt.UTC)  # anime-mapper's own date
    bebop = Anime.objects.get(mal_id=1)
    # A dated estimate (2025-01) is newer than the seed's (2024) and Jikan's (2023) counts.
    assert (bebop.members, bebop.members_as_of, bebop.members_estimated) == (1929241, dt.date(2025, 1, 1), True)
    assert bebop.provenance == "anime-mapper+jikan-flat+members-estimate 2025-01+seed+jikan+members-estimate 2018-05-07"
    assert bebop.title_japanese == "カウボーイビバップ"
    # anime-mapper is the newest record, but its duration and genres are AniList's version of
    # MyAnimeList's: MyAnimeList's own win; its tags (AniList's) are kept apart.
    assert bebop.duration == "24 min per ep"
    assert set(bebop.genres.values_list("name", flat=True)) == {
        "Action",
        "Award Winning",
        "Sci-Fi",
        "Adult Cast",
        "Space",
    }
    assert {"Bounty Hunter", "Gunfights"} <= set(bebop.tags.values_list("name", flat=True))
    # The seed has no page URL: the Jikan object's real one wins over a made-up default.
    assert bebop.mal_url == "https://myanimelist.net/anime/1/Cowboy_Bebop"
    seed_only = Anime.objects.get(mal_id=SEED_ONLY_ID)
    assert (seed_only.provenance, seed_only.mal_url) == ("seed", f"https://myanimelist.net/anime/{SEED_ONLY_ID}")
    # The extract merges these anime exactly as the whole import did.
    assert merged_rows(MERGED_IDS) == whole_import


def test_it_imports_the_whole_shared_data_and_a_second_run_changes_nothing(empty_catalog, shared_data, settings):
    """The acceptance run: ../shared/data into an empty catalogue (``make run``'s first import),
    then again. The one test that imports the whole data; the others take parts of it."""
    settings.CATALOG_INCLUDE = []  # the default
    summary = anime_import(paths=[shared_data])

    assert summary.read == 56_368
    assert summary.created == Anime.objects.count() == 21_842
    assert (summary.updated, summary.unchanged) == (0, 0)
    assert dict(summary.skipped) == {"missing title": 33}  # anime-mapper records without one
    assert dict(summary.filtered) == {
        "adult": 1_558,
        "member estimate only": 280,  # estimates of anime no catalogue file describes
        "type CM": 404,
        "type Music": 3_645,
        "type PV": 229,
    }
    assert summary.franchises_changed == 21_842  # created with a title's key, then the graph's
    # Tiers: quartiles of the reliably rated scores, so a quarter of those in each tier; the
    # others (no score, or too few ratings) have none.
    thresholds = summary.thresholds
    assert thresholds is not None and thresholds.scheme == "quartiles"
    assert (thresholds.top_tier_min, thresholds.worthwhile_min, thresholds.watchable_min) == (7.46, 7.01, 6.52)
    reliable = Anime.objects.reliably_rated().count()
    assert thresholds.scored_count == summary.tiers_changed == reliable == 8_053
    tiers = {tier: Anime.objects.filter(tier=tier).count() for tier in Tier}
    assert tiers == {Tier.TOP_TIER: 2_043, Tier.WORTHWHILE: 2_003, Tier.WATCHABLE: 2_028, Tier.TERRIBLE: 1_979}
    for tier, count in tiers.items():
        assert 0.20 <= count / reliable <= 0.30, (tier, count)
    assert Anime.objects.filter(tier="").count() == 21_842 - reliable == 13_789
    assert not Anime.objects.reliably_rated().filter(tier="").exists()
    before = dict(Anime.objects.values_list("mal_id", "updated_at"))

    again = anime_import(paths=[shared_data])

    assert (again.read, again.created, again.updated, again.unchanged) == (56_368, 0, 0, 21_842)
    assert (dict(again.skipped), dict(again.filtered)) == (dict(summary.skipped), dict(summary.filtered))
    assert (again.franchises_changed, again.tiers_changed, again.changed_ids) == (0, 0, [])
    assert dict(Anime.objects.values_list("mal_id", "updated_at")) == before
    assert TierThresholds.objects.count() == 1


def test_it_skips_bad_records_and_counts_them_by_reason(empty_catalog, tmp_path):
    good = {"mal_id": 9001, "title": "Good One", "members": 200000, "score": 7.5, "aired_from": None}
    write_json(
        tmp_path / "bad.json",
        [
            good,
            {"mal_id": None, "title": "No Id", "members": 200000, "aired_from": None},
            {"mal_id": 9002, "title": "", "members": 200000, "aired_from": None},
            {"mal_id": 9003, "title": "Bad Score", "score": "great", "members": 200000, "aired_from": None},
            {"mal_id": 9004, "title": "Bad Episodes", "episodes": "many", "members": 200000, "aired_from": None},
            {"mal_id": 9005, "title": "Bad Genres", "genres": "Action", "members": 200000, "aired_from": None},
            {"mal_id": "abc", "title": "Bad Id", "members": 200000, "aired_from": None},
            {**good, "title": "Good One, Renamed"},
            42,
        ],
    )
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")

    summary = anime_import(paths=[tmp_path])

    assert dict(summary.skipped) == {
        "missing id": 1,
        "missing title": 1,
        "non-numeric score": 1,
        "wrong type: episodes": 1,
        "wrong type: genres": 1,
        "wrong type: mal_id": 1,
        "conflicting duplicate": 1,
        "unknown format": 1,
        "unreadable file": 1,
    }
    assert list(Anime.objects.values_list("mal_id", "title")) == [(9001, "Good One")]


def test_it_treats_a_zero_or_missing_score_as_unknown(empty_catalog, tmp_path):
    write_json(
        tmp_path / "scores.json",
        [
            {"mal_id": 9101, "title": "Zero", "score": 0, "members": 150000, "aired_from": None},
            {"mal_id": 9102, "title": "Null", "score": None, "members": 150000, "aired_from": None},
            {"mal_id": 9103, "title": "Scored", "score": 7.1, "members": 150000, "aired_from": None},
        ],
    )
    anime_import(paths=[tmp_path], min_members=0)

    assert dict(Anime.objects.values_list("mal_id", "score")) == {9101: None, 9102: None, 9103: 7.1}
    assert dict(Anime.objects.values_list("mal_id", "tier")) == {9101: "", 9102: "", 9103: ""}


def test_it_applies_min_scored_by(empty_catalog, shared_data):
    summary = anime_import(paths=[shared_data / "jikan-seasons"], min_scored_by=1_000_000)

    assert summary.created == Anime.objects.count() == 63
    assert dict(summary.filtered) == {"scored_by < 1,000,000": 3961 - 63}
    assert not Anime.objects.filter(scored_by__lt=1_000_000).exists()


def test_the_command_prints_a_summary(empty_catalog, shared_data):
    out = StringIO()
    call_command("import_anime", str(shared_data / "seed"), stdout=out, stderr=StringIO())

    text = out.getvalue()
    assert "created 2,041, updated 0, unchanged 0, skipped 0" in text
    assert "Tier thresholds: Quartiles" in text


def test_the_command_rejects_a_missing_path(db, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_anime", str(tmp_path / "nope"), stdout=StringIO())
