"""Text analysis for BM25 done in the application: Snowball stemming and stop words.

The core-only Elasticsearch distribution has no stemmers or language analyzers (they live in the
analysis-common module), so the backend indexes a pre-analysed copy of title, headings and body and
analyses the query the same way: "publishing pages" then matches "published page". The database backend
gets the same effect from PostgreSQL's text search configuration and SQLite FTS5's porter tokenizer.

Measured with `benchmarks/retrieval.py` (search/RETRIEVAL-HISTORY.md): the BM25 leg's nDCG@10 rose
from 0.348 to 0.397 on dbpedia-entity and from 0.734 to 0.791 on the Wagtail docs questions.

Matching folds compatibility forms and case (``fold``: NFKC, then casefold): a query "No 5" or "Form
No5" finds the stored "№ 5" / "Form №5", full-width "２０２４" matches "2024", "ﬁle" matches "file". Only the
terms are folded; stored passages keep the source's characters, so quotes match the original.

Snowball covers 36 languages (`snowballstemmer.algorithms()`); stop words are removed for English only
(other languages rely on BM25's inverse document frequency to discount common words).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer
from django.core.exceptions import ImproperlyConfigured

# Bump when the analysis changes in a way that needs the index rebuilt (stored in the mapping's _meta).
ANALYSIS_VERSION = 2  # 2: terms folded (NFKC + casefold)

TOKEN = re.compile(r"\w+")
STEM_CACHE_WORDS = 100_000  # per analyzer (one per language): a few MB

# Lucene's English stop set plus question and auxiliary words: they carry no topic, and a question
# ("How do I ...?", "Which ... were ...?") otherwise adds a dozen near-useless clauses to the query.
ENGLISH_STOP_WORDS = frozenset(
    """a an and are as at be but by for if in into is it no not of on or such that the their then there
    these they this to was will with which who whom whose what when where why how were does did do doing
    has have had having i you he she we me my your our its from can could should would am been
    being""".split()
)
STOP_WORDS: dict[str, frozenset[str]] = {"english": ENGLISH_STOP_WORDS}


def fold(text: str) -> str:
    """``text`` as matching sees it: compatibility characters replaced by their plain forms (NFKC:
    full-width digits and letters, "№" → "No", ligatures, superscripts) and case folded ("Straße" →
    "strasse"). For terms only, never for what is stored or shown."""
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    """The folded word tokens of ``text``: what every BM25 leg matches (Elasticsearch's analysed
    fields, the database backends' full-text columns and every query)."""
    return TOKEN.findall(fold(text))


class TextAnalyzer:
    """Folded word tokens (``words``), stop words dropped, each stemmed. Thread-safe (one stemmer per thread:
    Snowball stemmers keep state while they work)."""

    def __init__(self, language: str) -> None:
        language = language.strip().lower()
        known = sorted(snowballstemmer.algorithms())
        if language not in known:
            raise ImproperlyConfigured(f"No Snowball stemmer for {language!r}; known: {', '.join(known)}.")
        self.language = language
        self.stop_words = STOP_WORDS.get(language, frozenset())
        self._local = threading.local()
        # Word frequencies follow Zipf's law, so a cache of stemmed words answers most lookups: on 5,000
        # dbpedia-entity passages (58 words each) analysis took 3.15 ms per passage without it and 0.40
        # ms with it, the same terms (the bulk writer analyses three fields of every chunk it sends).
        self._stem = lru_cache(maxsize=STEM_CACHE_WORDS)(self._stem_word)

    @property
    def name(self) -> str:
        """Identifies the analysis an index was built with (see ANALYSIS_VERSION)."""
        return f"snowball-{self.language}-v{ANALYSIS_VERSION}"

    def _stemmer(self) -> snowballstemmer.stemmer:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = snowballstemmer.stemmer(self.language)
        return stemmer

    def _stem_word(self, word: str) -> str:
        return str(self._stemmer().stemWord(word))

    def terms(self, text: str) -> list[str]:
        stem = self._stem
        return [stem(w) for w in words(text) if w not in self.stop_words]

    def analyze(self, text: str) -> str:
        """The terms joined by spaces: what the backend stores and matches."""
        return " ".join(self.terms(text))

    def __repr__(self) -> str:
        return f"TextAnalyzer({self.language!r})"


@lru_cache(maxsize=8)
def get_analyzer(language: str | None) -> TextAnalyzer | None:
    """The analyzer for `language`, or None when stemming is switched off ("", "none")."""
    if not language or language.strip().lower() in {"none", "off"}:
        return None
    return TextAnalyzer(language)
