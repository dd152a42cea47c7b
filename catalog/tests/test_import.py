from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Anime, Genre, TierThresholds
from catalog.services import anime_import
from catalog.tiers import Tier


@pytest.fixture
def empty_catalog(db) -> None:
    """Start from nothing (inside the test's transaction, so the session catalogue returns)."""
    Anime.objects.all().delete()
    Genre.objects.all().delete()
    TierThresholds.objects.all().delete()


def write_json(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


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
    popular = [obj for obj in json.loads(path.read_text()) if (obj["members"] or 0) >= 100_000]

    summary = anime_import(paths=[path])

    assert summary.created == len(popular) == 402
    assert summary.filtered["members < 100,000"] == 500 - 402
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
    summary = anime_import(paths=[shared_data / "jikan-seasons"])

    assert summary.created == 1606
    assert summary.filtered["members < 100,000"] > 0
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


def test_it_filters_out_records_without_members_unless_asked(empty_catalog, shared_data):
    flat = shared_data / "jikan-flat" / "anime_data.json"

    summary = anime_import(paths=[flat])
    assert summary.created == 0
    assert summary.filtered["members unknown"] == 2000

    summary = anime_import(paths=[flat], min_members=0)
    assert summary.created == 2000
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


def test_it_merges_records_of_one_anime_newest_first(empty_catalog, shared_data):
    anime_import(paths=[shared_data])

    frieren = Anime.objects.get(mal_id=52991)
    # Counts from the newest source (season dump of 2026-02), text the older ones lack.
    assert frieren.members == 1288804
    assert frieren.title_english == "Frieren: Beyond Journey's End"
    assert "Frieren The Slayer" in frieren.title_synonyms
    assert frieren.studios == ["Madhouse"]
    assert frieren.provenance == "jikan-season+jikan-flat+seed"
    # Only the complete Jikan objects carry favorites for this 2023 title? No: they predate it,
    # so the season dump is the only source of favorites.
    assert frieren.favorites is not None
    # An older title present only in the seed and the 2023 Jikan objects keeps both.
    bebop = Anime.objects.get(mal_id=1)
    assert bebop.provenance.endswith("seed+jikan")
    assert bebop.title_japanese == "カウボーイビバップ"
    # The seed has no page URL: the Jikan object's real one wins over a made-up default.
    assert bebop.mal_url == "https://myanimelist.net/anime/1/Cowboy_Bebop"
    seed_only = Anime.objects.filter(provenance="seed").first()
    assert seed_only.mal_url == f"https://myanimelist.net/anime/{seed_only.mal_id}"


def test_it_imports_the_whole_shared_data_with_balanced_tiers(empty_catalog, shared_data):
    summary = anime_import(paths=[shared_data])

    total = Anime.objects.count()
    assert 2250 <= total <= 2350
    assert total == 2293
    scored = Anime.objects.scored().count()
    for tier in Tier:
        share = Anime.objects.filter(tier=tier).count() / scored
        assert 0.20 <= share <= 0.30, (tier, share)
    assert Anime.objects.filter(score__isnull=True, tier="").count() == total - scored
    assert summary.thresholds is not None and summary.thresholds.scheme == "quartiles"


def test_it_changes_nothing_on_a_second_run(empty_catalog, shared_data):
    anime_import(paths=[shared_data])
    before = dict(Anime.objects.values_list("mal_id", "updated_at"))

    summary = anime_import(paths=[shared_data])

    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 2293)
    assert summary.tiers_changed == 0
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

    assert summary.created == Anime.objects.count()
    assert 0 < summary.created < 1606
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
