"""The application-side text analysis behind the Elasticsearch backend's stemmed fields."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

from search.analysis import TextAnalyzer, fold, get_analyzer, words


def test_english_stems_and_drops_stop_words() -> None:
    analyzer = TextAnalyzer("english")
    assert analyzer.terms("How do I publish the pages of a site?") == ["publish", "page", "site"]
    assert analyzer.analyze("Published pages") == analyzer.analyze("publishing page") == "publish page"


def test_identifiers_and_numbers_stay_words() -> None:
    terms = TextAnalyzer("english").terms("WAGTAILSEARCH_BACKENDS in Wagtail 8.0, {% pageurl %}")
    assert terms[0] == "wagtailsearch_backend"
    assert "8" in terms and "0" in terms and "pageurl" in terms


def test_other_languages_stem_without_a_stop_list() -> None:
    german = TextAnalyzer("german")
    assert german.analyze("die Häuser") == german.analyze("die Häusern") == "die haus"
    assert TextAnalyzer("french").terms("les chevaux") == ["le", "cheval"]


def test_a_query_of_stop_words_only_analyses_to_nothing() -> None:
    assert TextAnalyzer("english").analyze("What is this?") == ""


@pytest.mark.parametrize("language", [None, "", "none", "off", " None "])
def test_stemming_can_be_switched_off(language: str | None) -> None:
    assert get_analyzer(language) is None


def test_an_unknown_language_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="No Snowball stemmer for 'klingon'"):
        get_analyzer("klingon")


def test_name_records_language_and_version() -> None:
    assert get_analyzer("English").name == "snowball-english-v2"  # type: ignore[union-attr]


def test_threads_do_not_share_a_stemmer() -> None:
    analyzer = TextAnalyzer("english")
    words = "connections connected connecting running runs generalisation".split()
    expected = [analyzer.analyze(w) for w in words]
    failures: list[str] = []

    def work() -> None:
        for _ in range(300):
            got = [analyzer.analyze(w) for w in words]
            if got != expected:
                failures.append(" ".join(got))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_matching_folds_compatibility_forms_and_case() -> None:
    assert fold("Form №5, ＦＯＲＭ ２０２４, Straße, ﬁle") == "form no5, form 2024, strasse, file"
    analyzer = TextAnalyzer("english")
    # "No 5" finds "№ 5" and full-width digits match ASCII ones; without folding, "№" is no word at all
    # and "２０２４" is another token than "2024".
    assert analyzer.terms("Form №5") == analyzer.terms("form No5") == ["form", "no5"]
    assert analyzer.terms("№ 5") == analyzer.terms("No 5") == ["5"]  # "no" alone is a stop word
    assert analyzer.terms("holidays ２０２４") == analyzer.terms("Holidays 2024") == ["holiday", "2024"]
    assert words("Ｑ３ ＲＥＰＯＲＴ") == ["q3", "report"]
