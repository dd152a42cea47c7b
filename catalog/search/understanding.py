"""Query understanding: what a half-remembered description says besides its plot words.

People describe an anime the way they remember it: hedged ("I think", "or something"), with cues
the catalogue holds as fields (a movie, a studio or director, an era, how many episodes), with
things it is *not* ("not Evangelion"), and, when long, as several separate clues. ``understand``
turns a query into a ``QueryPlan``:

- ``text``: the plot words alone (hedges, filler and cue phrases removed), for both rankings;
- ``clues``: a long description cut into its clauses, each ranked on its own and fused;
- ``preferences``: soft cues (type, studio, years, episodes): a boost in the rerank, never a
  filter, since memories of dates and studios are often wrong;
- ``filters``: explicit constraints ("only movies", "after 2010"): real filters, shown as
  removable chips on the page and echoed in the API;
- ``excluded``: titles named after "not" (their franchise is left out), the clause dropped.

Plain functions of the text and the catalogue's vocabulary (studio names, titles): no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from weakref import WeakKeyDictionary

from catalog.search.titles import TitleIndex

# ---------------------------------------------------------------------------- vocabulary

# Words a viewer uses for a medium -> the catalogue's type.
MEDIA: dict[str, str] = {
    "movie": "Movie",
    "movies": "Movie",
    "film": "Movie",
    "films": "Movie",
    "ova": "OVA",
    "ovas": "OVA",
    "ona": "ONA",
    "onas": "ONA",
    "tv show": "TV",
    "tv series": "TV",
    "tv anime": "TV",
    "series": "TV",
    "show": "TV",
}
# Directors named in queries -> the studios the catalogue credits for their work.
DIRECTORS: dict[str, tuple[str, ...]] = {
    "hayao miyazaki": ("Studio Ghibli", "TMS Entertainment"),
    "miyazaki": ("Studio Ghibli", "TMS Entertainment"),
    "isao takahata": ("Studio Ghibli",),
    "takahata": ("Studio Ghibli",),
    "goro miyazaki": ("Studio Ghibli",),
    "mamoru hosoda": ("Studio Chizu", "Madhouse", "Toei Animation"),
    "hosoda": ("Studio Chizu", "Madhouse", "Toei Animation"),
    "makoto shinkai": ("CoMix Wave Films",),
    "shinkai": ("CoMix Wave Films",),
    "satoshi kon": ("Madhouse",),
    "masaaki yuasa": ("Science SARU", "Madhouse", "Tatsunoko Production"),
    "yuasa": ("Science SARU", "Madhouse", "Tatsunoko Production"),
    "hideaki anno": ("Gainax", "Khara"),
    "shinichiro watanabe": ("Sunrise", "MAPPA", "Manglobe", "Bones"),
    "mamoru oshii": ("Production I.G",),
    "naoko yamada": ("Kyoto Animation", "Science SARU"),
    "hiroyuki imaishi": ("Trigger", "Gainax"),
    "yoshiyuki tomino": ("Sunrise",),
    "katsuhiro otomo": ("Tokyo Movie Shinsha", "Sunrise"),
    "kunihiko ikuhara": ("J.C.Staff", "Lerche", "Brain's Base"),
}
# Short spellings of studios; any studio the catalogue holds is also found by its own name.
STUDIO_ALIASES: dict[str, str] = {
    "ghibli": "Studio Ghibli",
    "kyoani": "Kyoto Animation",
    "kyoto ani": "Kyoto Animation",
    "toei": "Toei Animation",
    "pierrot": "Studio Pierrot",
    "deen": "Studio Deen",
    "production ig": "Production I.G",
    "prod ig": "Production I.G",
    "jc staff": "J.C.Staff",
    "pa works": "P.A. Works",
    "a1 pictures": "A-1 Pictures",
    "a 1 pictures": "A-1 Pictures",
    "wit": "Wit Studio",
    "studio 4c": "Studio 4°C",
    "4c": "Studio 4°C",
    "tms": "TMS Entertainment",
    "science saru": "Science SARU",
    "saru": "Science SARU",
    "shin ei": "Shin-Ei Animation",
    "silver link": "SILVER LINK.",
    "cloverworks": "CloverWorks",
}
# Studio names that are also everyday words: a cue only next to "studio", "by" or a medium word.
AMBIGUOUS_STUDIOS = frozenset(
    {"bones", "trigger", "shaft", "sunrise", "feel", "orange", "bridge", "connect", "arms", "wit", "8bit", "zero g"}
)

HEDGES = (
    r"i (?:think|believe|guess|remember|recall|watched|saw|feel like)(?: that)?",
    r"i'?m (?:pretty |almost )?(?:sure|not sure)(?: (?:if|that|whether))?",
    r"not (?:100% )?sure(?: (?:if|that|whether))?",
    r"if i (?:remember|recall)(?: correctly| right)?",
    r"iirc|afaik|idk",
    r"(?:pretty|fairly) sure",
    r"probably|maybe|perhaps|possibly|supposedly|apparently|basically|honestly|literally|somehow",
    r"or (?:something|so|whatever)(?: like that)?",
    r"kind of|sort of|kinda|sorta",
    r"(?:does )?any(?:one|body) (?:know|remember)(?: (?:the name of|what|which))?",
    r"(?:help me |trying to |can'?t |cannot )?(?:find|remember|recall) (?:the |this |an? )?(?:name|title)(?: of)?",
    r"(?:i'?m )?looking for",
    r"(?:years|ages|a long time) ago|as a kid|when i was (?:a kid|young|little|younger)",
    r"(?:it|this) (?:was|is) (?:an? )?(?:anime|one)?(?: (?:where|about|with|in which|that))?",
    r"there (?:was|is|were)|there'?s",
    r"(?:an? |the |this |some )?anime (?:about|where|with|in which|that)",
    r"(?:the one|one) (?:where|with|about)",
)
_UNSURE = re.compile(
    r"\b(?:i'?m |i am )?(?:pretty |almost |really )?not (?:100% |totally |entirely |completely )?sure"
    r"(?: (?:if|that|whether|but|about))?\b|\bnot (?:that|too) (?:important|relevant)\b",
    re.IGNORECASE,
)
_HEDGE = re.compile(r"\b(?:" + "|".join(HEDGES) + r")\b[,.]?", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_CLAUSES = re.compile(r"(?<=[.!?;])\s+|,\s+(?:and |but |then |while |until |when )|\s+(?:and then|but then)\s+")
_NEGATION = re.compile(
    r"(?:^|[,.;(]\s*|\s)(?:but |and )?(?:not|isn'?t|wasn'?t|definitely not|it'?s not)\s+"
    r"(?P<what>(?:the one (?:where|with|about)[^,.;)]*)|[^,.;)]{2,60}?)(?=\s*(?:[,.;)]|$))",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-3]\d)s?\b")
_DECADE = re.compile(r"\b(?:(early|mid|late)[- ])?(?:the )?((?:19|20)[0-9]0|[5-9]0|[0-2]0)'?s\b", re.IGNORECASE)
_EPISODES = re.compile(r"\b(?:like |about |around |only |just )?(\d{1,4}) (?:episodes?|eps?)\b", re.IGNORECASE)
_SHORT = re.compile(r"\b(?:short|one season|a single season|only a few episodes|a few episodes)\b", re.IGNORECASE)
_LONG = re.compile(r"\b(?:long[- ]running|hundreds of episodes|(?:really |super )?long (?:one|show|series))\b", re.I)
_OLD = re.compile(r"\b(?:really |super |pretty )?old(?:er)? (?:anime|show|movie|one|series|film)\b", re.IGNORECASE)
# Childhood memories: aired some 8 to 25 years before now (a soft cue, like every era cue).
_CHILDHOOD = re.compile(
    r"\b(?:as a (?:kid|child|little kid)|when i was (?:a kid|a child|young|little|younger)|(?:my|in) childhood|"
    r"growing up)\b",
    re.IGNORECASE,
)
_BLACK_AND_WHITE = re.compile(r"\b(?:black[- ](?:and|&)[- ]white|b&w|monochrome (?:anime|show|cartoon))\b", re.I)
# "on TV", "aired on TV", "on Cartoon Network": a broadcast series.
_ON_TV = re.compile(r"\b(?:on (?:tv|television|cartoon network|toonami|adult swim)|aired on)\b", re.IGNORECASE)
# "the original", "the first one", "not the remake": the franchise's first entry.
_ORIGINAL = re.compile(
    r"\b(?:the original(?: one| version| series| anime| show| movie)?|the first (?:one|version|series|adaptation)|"
    r"(?:not|isn'?t|wasn'?t) the (?:(?:19|20)\d\d )?(?:remake|reboot|new (?:one|version))|the old (?:one|version))\b",
    re.IGNORECASE,
)
# "not the 2019 one": that year's entry is out (the rest of its franchise stays).
_NOT_YEAR = re.compile(
    r"^(?:the )?(19[5-9]\d|20[0-3]\d)(?: (?:one|version|remake|reboot|series|movie|anime|show|adaptation))?$"
)
_RECENT = re.compile(r"\b(?:recent|new(?:ish)?|last year|this year)\b (?:anime|show|movie|one|series)?", re.I)
_ONLY_TYPE = re.compile(
    r"\b(?:only|just) (?:the )?(movies?|films?|tv shows?|tv series|ovas?|onas?)\b|"
    r"\b(movies?|films?|tv shows?|ovas?|onas?) only\b",
    re.IGNORECASE,
)
# "since 2015", "from 2015 on", "2015 or later": 2015 counts; "after 2015": from 2016; "before
# 2000": up to 1999.
_SINCE = re.compile(
    r"\b(?:after|since|from) (19[5-9]\d|20[0-3]\d) (?:on(?:wards)?|or later)\b|\bsince (19[5-9]\d|20[0-3]\d)\b"
    r"|\b(19[5-9]\d|20[0-3]\d) or later\b",
    re.I,
)
_AFTER = re.compile(r"\bafter (19[5-9]\d|20[0-3]\d)\b", re.IGNORECASE)
_BEFORE = re.compile(r"\bbefore (19[5-9]\d|20[0-3]\d)\b", re.IGNORECASE)
# The filters a query can state explicitly (the page shows them as removable chips).
FILTER_KEYS = ("type", "year_min", "year_max")
_YEAR_BOUNDS = ((_SINCE, "year_min", 0), (_AFTER, "year_min", 1), (_BEFORE, "year_max", -1))
_WORD = re.compile(r"[a-z0-9]+")
# A preposition left alone once the cue after it was taken out ("from ," "in the early").
_DANGLING = re.compile(
    r"\b(?:from|in|around|circa|by|during)(?: around| about)?(?: the)?(?: early| mid| late)?(?=\s*(?:[,.;:?]|$))", re.I
)
# An article whose noun was a cue ("a ghibli movie about" -> "a about").
_STRANDED_ARTICLE = re.compile(
    r"\b(?:a|an|the)\s+(?=(?:a|an|the|about|with|where|who|that|and|of|in)\b|[,.;:]|$)", re.I
)
_SETTING = re.compile(
    r"\b(?:set|takes? place|taking place|happens|living|lives) (?:\w+ ){0,4}?(?:in|during) (?:the (?:year )?)?"
    r"(?:(?:early|mid|late)[- ])?(?:19|20)?\d0'?s?\b",
    re.IGNORECASE,
)
# "a chinese movie", "korean animated ...", "donghua": where it was made (``catalog.origin``). The
# nationality counts only next to a word for the medium ("an old chinese book" is plot).
_COUNTRY = re.compile(
    r"\b(?:(chinese|korean)(?= (?:[\w-]+ ){0,3}?(?:anime|animes|animation|animated|movie|film|ona|ova|show|series|"
    r"cartoon|donghua|cg|short)\b)|(donghua))\b",
    re.IGNORECASE,
)
COUNTRIES: dict[str, tuple[str, str]] = {
    "chinese": ("CN", "Chinese"),
    "donghua": ("CN", "Chinese"),
    "korean": ("KR", "Korean"),
}
_PUNCTUATION_RUNS = re.compile(r"(?:\s*,){2,}")
CLUE_MIN_WORDS = 5  # a clause shorter than this stays in the whole query only
LONG_QUERY_WORDS = 20  # from this length on a description is also split into clues
MAX_CLUES = 4


# ---------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Cue:
    """A soft preference: ``kind`` is type, studio, years or episodes; ``label`` is shown."""

    kind: str
    label: str
    types: frozenset[str] = frozenset()
    studios: frozenset[str] = frozenset()
    years: tuple[int, int] | None = None
    episodes: tuple[int, int] | None = None
    countries: frozenset[str] = frozenset()  # catalog.origin's codes: "CN", "KR"


@dataclass
class QueryPlan:
    query: str
    text: str
    clues: list[str] = field(default_factory=list)
    preferences: list[Cue] = field(default_factory=list)
    # Explicit constraints: {"type": "Movie"}, {"year_min": 2010}, {"year_max": 1999}.
    filters: dict[str, object] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)  # what followed "not"
    excluded_ids: set[int] = field(default_factory=set)  # anime of the franchises named there
    excluded_years: set[int] = field(default_factory=set)  # "not the 2019 one": entries of that year
    original: bool = False  # "the original", "not the remake": the franchise's first entry is wanted
    # What Gemini did for this query (catalog/search/assist.py): "clues", "rerank".
    assisted: list[str] = field(default_factory=list)

    @property
    def understood(self) -> bool:
        return (
            bool(self.preferences or self.filters or self.excluded or self.clues or self.assisted or self.original)
            or self.text != self.query
        )


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower().replace("°", "")))


def _remove(text: str, span: tuple[int, int]) -> str:
    return text[: span[0]] + " " + text[span[1] :]


def understand(query: str, *, titles: TitleIndex | None = None, ignore: frozenset[str] = frozenset()) -> QueryPlan:
    """The plan for ``query``. ``titles`` (the title index) resolves "not <title>" and holds the
    catalogue's studio names; ``ignore`` drops explicit filters the user removed ("type",
    "year_min", "year_max")."""
    plan = QueryPlan(query=query, text=query)
    text = query

    # Uncertainty is not a negation ("not sure if it was ..."): out before negations are read.
    text = _UNSURE.sub(" ", text)
    # Negations next, before cue words inside them are read as cues.
    plan.original = bool(_ORIGINAL.search(text))
    for match in list(_NEGATION.finditer(text)):
        what = match.group("what").strip()
        plan.excluded.append(what)
        year = _NOT_YEAR.match(what.lower())
        if year:
            plan.excluded_years.add(int(year.group(1)))
        elif titles is not None and not what.lower().startswith("the one") and not _ORIGINAL.search(f"not {what}"):
            named = titles.match(what, limit=1)
            if named and named[0].quality >= 0.5:
                plan.excluded_ids.update(titles.franchise_ids(named[0].mal_id))
    if plan.excluded:
        text = _NEGATION.sub(" ", text)

    # Explicit constraints: they filter, the words go.
    for match in list(_ONLY_TYPE.finditer(text)):
        word = (match.group(1) or match.group(2)).lower()
        kind = MEDIA.get(word) or MEDIA.get(word.rstrip("s")) or MEDIA.get(word.replace("shows", "show"))
        if kind and "type" not in ignore:
            plan.filters["type"] = kind
        text = _remove(text, match.span())
    for pattern, key, shift in _YEAR_BOUNDS:
        for match in list(pattern.finditer(text)):
            year = int(next(g for g in match.groups() if g)) + shift
            if key not in ignore:
                plan.filters[key] = year
            text = text.replace(match.group(0), " ")

    childhood = bool(_CHILDHOOD.search(text))
    text = _HEDGE.sub(" ", text)
    plan.preferences.extend(_cues(text, titles, childhood=childhood))
    text = _strip_cues(text, titles)
    text = _DANGLING.sub(" ", text)
    text = _STRANDED_ARTICLE.sub(" ", text)
    text = _SPACES.sub(" ", _PUNCTUATION_RUNS.sub(",", text)).strip(" ,.;:-")
    plan.text = text or query
    words = plan.text.split()
    if len(words) >= LONG_QUERY_WORDS:
        clauses = [c.strip(" ,.;:-") for c in _CLAUSES.split(plan.text)]
        clues = [c for c in clauses if len(c.split()) >= CLUE_MIN_WORDS]
        if len(clues) > 1:
            plan.clues = clues[:MAX_CLUES]
    return plan


# ---------------------------------------------------------------------------- cues


def _cues(text: str, titles: TitleIndex | None, *, childhood: bool = False) -> list[Cue]:
    lowered = text.lower()
    normal = f" {_norm(text)} "
    cues: list[Cue] = []
    types = {kind for word, kind in MEDIA.items() if f" {word} " in normal}
    if _ON_TV.search(lowered):
        types.add("TV")
    # "series"/"show" alone say little (a show is most anime); a movie, OVA or ONA say a lot.
    strong = {t for t in types if t != "TV"}
    if strong:
        cues.append(Cue("type", " or ".join(sorted(strong)).replace("Movie", "movie"), types=frozenset(strong)))
    elif "TV" in types and (" tv " in normal or " television " in normal or _ON_TV.search(lowered)):
        cues.append(Cue("type", "TV series", types=frozenset({"TV"})))

    countries: dict[str, set[str]] = {}
    for match in _COUNTRY.finditer(lowered):
        code, label = COUNTRIES[(match.group(1) or match.group(2)).lower()]
        countries.setdefault(label, set()).add(code)
    for label, codes in countries.items():
        cues.append(Cue("country", label, countries=frozenset(codes)))

    studios = _studios(normal, titles)
    for name, found in studios.items():
        cues.append(Cue("studio", name, studios=frozenset(found)))

    years = _years(lowered)
    if years is None and childhood:
        this_year = date.today().year
        years = (this_year - 25, this_year - 8)
    if years is not None:
        low, high = years
        label = f"{low}s" if high - low == 9 and low % 10 == 0 else (str(low) if low == high else f"{low}–{high}")
        cues.append(Cue("years", label, years=years))

    episodes = _episodes(lowered)
    if episodes is not None:
        low, high = episodes
        label = (
            "short" if (low, high) == (1, 13) else "long-running" if high >= 1000 else f"about {low}–{high} episodes"
        )
        cues.append(Cue("episodes", label, episodes=episodes))
    return cues


def _studios(normal: str, titles: TitleIndex | None) -> dict[str, set[str]]:
    """Studio cues: label -> the studio names they stand for."""
    vocabulary = _studio_vocabulary(titles)
    found: dict[str, set[str]] = {}
    named: list[str] = []
    for name, studios in sorted(DIRECTORS.items(), key=lambda item: -len(item[0])):
        if f" {name} " in normal and not any(name in longer for longer in named):
            named.append(name)
            found.setdefault(name.title(), set()).update(*(vocabulary.spellings_of(s) for s in studios))
    for studio in vocabulary.names:
        if f" {studio.spelling} " not in normal:
            continue
        if studio.ambiguous and not re.search(
            rf" (?:studio|by|from) {re.escape(studio.spelling)} "
            rf"| {re.escape(studio.spelling)} (?:studio|show|movie|anime|series|ova|ona) ",
            normal,
        ):
            continue
        if any(studio.studios & studios for studios in found.values()):
            continue
        found.setdefault(studio.label, set()).update(studio.studios)
    return found


def _years(lowered: str) -> tuple[int, int] | None:
    # Where the story is set ("set in the 1950s") is plot, not when the anime came out.
    lowered = _SETTING.sub(" ", lowered)
    decade = _DECADE.search(lowered)
    if decade:
        part, digits = decade.groups()
        start = int(digits) if len(digits) == 4 else int(digits) + (1900 if int(digits) >= 50 else 2000)
        low, high = {"early": (0, 4), "mid": (3, 7), "late": (6, 9)}.get((part or "").lower(), (0, 9))
        return start + low, start + high
    year = _YEAR.search(lowered)
    if year:
        value = int(year.group(1))
        return value, value
    if _BLACK_AND_WHITE.search(lowered):
        return 1950, 1969
    if _OLD.search(lowered):
        return 1960, 2004
    if _RECENT.search(lowered):
        this_year = date.today().year
        return this_year - 4, this_year
    return None


def _episodes(lowered: str) -> tuple[int, int] | None:
    count = _EPISODES.search(lowered)
    if count:
        n = int(count.group(1))
        return max(1, n - 3), n + 3
    if _LONG.search(lowered):
        return 100, 10_000
    if _SHORT.search(lowered):
        return 1, 13
    return None


@dataclass(frozen=True)
class StudioName:
    """One way a query names a studio: ``spelling`` (normalised), the cue's ``label`` and the
    catalogue's spellings of that studio (``studios``). ``ambiguous``: an everyday word ("Bones",
    "Robot"), a studio only next to "studio", "by" or a medium word."""

    spelling: str
    label: str
    studios: frozenset[str]
    ambiguous: bool


@dataclass(frozen=True)
class StudioVocabulary:
    names: tuple[StudioName, ...]  # longest spelling first
    variants: dict[str, frozenset[str]]  # normalised spelling -> the catalogue's spellings
    patterns: tuple[re.Pattern[str], ...]  # what ``_strip_cues`` removes

    def spellings_of(self, studio: str) -> frozenset[str]:
        return self.variants.get(_norm(studio)) or frozenset({studio})


# The studio vocabulary and the patterns that remove its names are built once per title index
# (the catalogue as it is), not per query: ~1,400 names, a regular expression each, cost
# milliseconds a query.
_vocabularies: WeakKeyDictionary[TitleIndex, StudioVocabulary] = WeakKeyDictionary()


def _studio_vocabulary(titles: TitleIndex | None) -> StudioVocabulary:
    if titles is None:
        return _aliases_vocabulary()
    vocabulary = _vocabularies.get(titles)
    if vocabulary is None:
        vocabulary = _vocabularies[titles] = _studio_vocabulary_build(titles)
    return vocabulary


@cache
def _aliases_vocabulary() -> StudioVocabulary:
    """Without the catalogue: the short spellings of ``STUDIO_ALIASES`` only."""
    return _studio_vocabulary_build(None)


def _studio_vocabulary_build(titles: TitleIndex | None) -> StudioVocabulary:
    """The catalogue's studio names and the short spellings of ``STUDIO_ALIASES``. A studio the
    catalogue spells several ways ("Bones" and "bones", "Madhouse" and "MADHOUSE": MyAnimeList's
    and AniList's spellings) is one cue, labelled with the spelling most anime are credited
    with, that matches them all."""
    credited = titles.studios if titles is not None else {}
    by_spelling: dict[str, dict[str, int]] = {}
    for studio, count in credited.items():
        by_spelling.setdefault(_norm(studio), {})[studio] = count
    variants = {spelling: frozenset(spellings) for spelling, spellings in by_spelling.items() if spelling}
    labels = {spelling: min(spellings, key=lambda s: (-spellings[s], s)) for spelling, spellings in by_spelling.items()}
    names = {spelling: (labels[spelling], variants[spelling]) for spelling in variants}
    for alias, studio in STUDIO_ALIASES.items():
        target = _norm(studio)
        names[alias] = (labels.get(target, studio), variants.get(target, frozenset({studio})))

    def ambiguous(spelling: str) -> bool:
        return spelling in AMBIGUOUS_STUDIOS or (titles is not None and titles.everyday(spelling))

    studio_names = tuple(
        StudioName(spelling, label, studios, ambiguous(spelling))
        for spelling, (label, studios) in sorted(names.items(), key=lambda item: (-len(item[0]), item[0]))
    )
    return StudioVocabulary(studio_names, variants, _cue_word_patterns(studio_names, credited))


def _cue_word_patterns(names: tuple[StudioName, ...], credited: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """Patterns removing the director and studio names; an ambiguous name ("Bones", "Trigger") only
    where it reads as a studio ("by Bones", "a Trigger show"). Longest names first."""
    unclear = {name.spelling for name in names if name.ambiguous}
    words = sorted({*DIRECTORS, *STUDIO_ALIASES, *(s.lower() for s in credited)}, key=lambda w: (-len(w), w))
    ambiguous = "|".join(re.escape(w) for w in words if _norm(w) in unclear)
    plain = "|".join(re.escape(w) for w in words if _norm(w) not in unclear and len(w) > 2)
    return (
        re.compile(rf"\b(?:studio|by|from) (?:{ambiguous})\b", re.I),
        re.compile(rf"\b(?:{ambiguous})(?= (?:studio|show|movie|anime|series|ova|ona)\b)", re.I),
        re.compile(rf"\b(?:{plain})\b", re.I),
    )


def _strip_cues(text: str, titles: TitleIndex | None) -> str:
    """The text without the words that were read as cues (they are not plot)."""
    stripped = _EPISODES.sub(" ", text)
    for pattern in (
        _COUNTRY,
        _DECADE,
        _YEAR,
        _SHORT,
        _LONG,
        _OLD,
        _BLACK_AND_WHITE,
        _ORIGINAL,
        _ON_TV,
        *_studio_vocabulary(titles).patterns,
    ):
        stripped = pattern.sub(" ", stripped)
    return re.sub(r"\b(?:movies?|films?|ovas?|onas?|tv shows?|tv series|anime)\b", " ", stripped, flags=re.I)
