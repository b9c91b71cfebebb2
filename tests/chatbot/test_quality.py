"""The quality score of an answer (chatbot/rag/quality.py): its components on hand-made answers, then on
answers of the service (extractive, generated, declined, cached), stored and returned by the API."""

from __future__ import annotations

from typing import Any

import pytest

from chatbot.models import Message
from chatbot.rag.cache import index_version_bump
from chatbot.rag.quality import (
    AnswerQuality,
    CitedPassage,
    answer_claims,
    answer_quality,
    coverage,
    groundedness,
    retrieval_confidence,
)
from tests.chatbot.test_services import (  # noqa: F401 - fixtures
    _final,
    _fresh_answer_cache,
    _scripted,
    _session,
    ask,
    asker,
    pages,
)
from tests.knowledgebase.conftest import clean_index, home, make_page, section  # noqa: F401

SETTINGS = CitedPassage(
    number=1,
    text="Call SiteSettings.for_request(request) to read a site's settings model inside a view.",
    fused=1.0,
)
BANANAS = CitedPassage(number=2, text="Bananas ripen faster next to apples.", fused=0.2)


def test_claims_take_the_markers_that_follow_them_and_leave_code_out() -> None:
    content = (
        "Read it in the view. Use for_request() [1][2]. Then render.\n\n```python\nx = load()\n```\n"
        "Bananas ripen [2]"
    )
    assert answer_claims(content) == [
        ("Read it in the view.", [1, 2]),
        ("Use for_request()", [1, 2]),
        ("Then render.", [2]),
        ("Bananas ripen", [2]),
    ]


def test_a_sentence_its_cited_passage_does_not_hold_is_not_grounded() -> None:
    supported = "Call for_request(request) to read the settings model in a view [1]."
    assert groundedness(supported, [SETTINGS, BANANAS]) == 1.0
    # The same sentence citing the wrong passage, and a sentence no passage holds.
    assert groundedness(supported.replace("[1]", "[2]"), [SETTINGS, BANANAS]) == 0.0
    mixed = supported + " Settings are cached forever in Redis by default [1]."
    assert groundedness(mixed, [SETTINGS, BANANAS]) == 0.5
    # A sentence without a marker may lean on any passage the answer cites.
    assert groundedness("Bananas ripen next to apples.", [SETTINGS, BANANAS]) == 1.0


def test_a_quote_naming_the_heading_of_its_passage_is_grounded() -> None:
    """The extractive answer may quote a list with the heading that introduces it, or name the identifier a
    reference entry documents: the source holds those words where it sits, not in its text."""
    listed = "- wagtail-grapple by Torchbox\n- strawberry-wagtail by Patrick Arminio"
    answer = f"GraphQL libraries compatible with Wagtail: [1]\n\n{listed}\n\n"
    bare = CitedPassage(number=1, text=listed, fused=1.0)
    placed = CitedPassage(
        number=1,
        text=listed,
        fused=1.0,
        heading="Headless support › GraphQL libraries compatible with Wagtail",
    )
    assert groundedness(answer, [bare]) == pytest.approx(2 / 3), "the heading line is no claim of the text"
    assert groundedness(answer, [placed]) == 1.0


def test_retrieval_confidence_rises_with_the_vector_score_and_the_cited_fused_scores() -> None:
    assert retrieval_confidence(0.70, [SETTINGS]) == pytest.approx(0.5)
    assert retrieval_confidence(0.90, [SETTINGS]) == pytest.approx(1.0)
    assert retrieval_confidence(0.80, [SETTINGS, BANANAS]) == pytest.approx(0.25 + 0.3)
    assert retrieval_confidence(None, [BANANAS]) == pytest.approx(0.2)
    assert retrieval_confidence(0.95, []) == pytest.approx(0.5)


def test_coverage_weighs_the_rare_terms_the_question_hinges_on() -> None:
    given = [{"settings", "view", "request"}, {"settings", "model"}, {"settings"}]
    question = "How do I read site settings in a view?"
    # "site" and "read" occur in no passage: an answer without them misses most of the weight.
    partial = coverage(question, "Settings are read in a view", given)
    full = coverage(question, "Read the site settings in a view", given)
    assert full == pytest.approx(1.0)
    assert 0.5 < partial < 1.0
    assert coverage(question, "Bananas", given) == 0.0


def test_score_is_the_mean_of_its_components_and_round_trips() -> None:
    quality = answer_quality(
        question="How do I read site settings in a view?",
        content="Call SiteSettings.for_request(request) to read a site's settings model inside a view. [1]",
        cited=[SETTINGS],
        given=[SETTINGS.text, BANANAS.text],
        best_knn=0.85,
    )
    assert quality.groundedness == 1.0 and quality.coverage == 1.0
    assert quality.retrieval == pytest.approx(0.875)
    assert quality.score == pytest.approx((1 + 1 + 0.875) / 3, abs=1e-4)
    assert AnswerQuality.from_dict(quality.as_dict()) == quality
    assert AnswerQuality.from_dict(None) is None and AnswerQuality.from_dict({"score": 1}) is None


# --- through the service -------------------------------------------------------------------------

QUESTION = "How long does the zanzibarite cache tag keep a fragment?"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker", "clean_index")
def test_every_answer_is_scored_stored_and_returned(pages: Any, asker: Any, client: Any) -> None:  # noqa: F811
    session = _session(asker)
    complete = _final(ask(session, asker, QUESTION)).data
    quality = complete["quality"]
    assert set(quality) == {"score", "groundedness", "retrieval", "coverage"}
    assert quality["groundedness"] == 1.0, "quoted sentences are grounded in what they cite"
    assert 0.0 < quality["score"] <= 1.0
    message = Message.objects.get(uuid=complete["message_id"])
    assert message.quality == quality["score"] and message.quality_components == quality

    # A repeat is served from the cache with the same score.
    cached = _final(ask(_session(asker), asker, QUESTION)).data
    assert Message.objects.get(uuid=cached["message_id"]).cache_hit
    assert cached["quality"] == quality

    declined = _final(ask(session, asker, "How much does Divio charge per month for hosting?")).data
    assert declined["declined"] and declined["quality"] is None
    assert Message.objects.get(uuid=declined["message_id"]).quality is None

    client.force_login(asker)
    listed = client.get(f"/api/chatbot/sessions/{session.uuid}/messages/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    answers = [m for m in rows if m["role"] == "assistant"]
    assert [a["quality"] for a in answers] == [quality, None]
    assert [m["quality"] for m in rows if m["role"] == "user"] == [None, None]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker", "clean_index")
def test_a_generated_sentence_its_source_does_not_support_lowers_the_score(
    pages: Any,  # noqa: F811
    asker: Any,  # noqa: F811
) -> None:
    with _scripted("The zanzibarite tag keeps a fragment for ten minutes [1]."):
        grounded = _final(ask(_session(asker), asker, QUESTION)).data["quality"]
    index_version_bump()  # not the cached answer
    invented_text = (
        "The zanzibarite tag keeps a fragment for ten minutes [1]. It stores them in Memcached [1]."
    )
    with _scripted(invented_text):
        invented = _final(ask(_session(asker), asker, QUESTION)).data["quality"]
    assert grounded["groundedness"] == 1.0 and invented["groundedness"] == 0.5
    assert invented["score"] < grounded["score"]


# --- where editors see it ------------------------------------------------------------------------


@pytest.mark.django_db
def test_low_scoring_answers_show_next_to_thumbs_down_in_the_report_dashboard_and_conversations(
    client: Any,
) -> None:
    import re

    from chatbot.feedback.analytics import analytics_summary
    from chatbot.feedback.report import improvement_report_build, improvement_report_markdown
    from tests.chatbot import test_feedback_data as data
    from tests.factories import user

    answer, days_ago, page, rate = data.answer, data.days_ago, data.page, data.rate
    docs = data.section("Docs", "docs")
    weak, rated, fine = page(docs, "Weak page"), page(docs, "Rated page"), page(docs, "Fine page")
    ana = user("ana")
    scores = {"score": 0.31, "groundedness": 0.5, "retrieval": 0.2, "coverage": 0.25}
    answer(ana, question="Weak?", cites=[weak], at=days_ago(1), quality=0.31, quality_components=scores)
    answer(ana, question="Weak again?", cites=[weak], at=days_ago(1), quality=0.72)
    rate(answer(ana, question="Rated?", cites=[rated], at=days_ago(1), quality=0.9), ana, "down")
    answer(ana, question="Fine?", cites=[fine], at=days_ago(1), quality=0.95)

    client.force_login(user("root", is_superuser=True, is_staff=True))
    html = client.get("/admin/reports/answer-feedback/").content.decode()
    rows = {
        key: dict(re.findall(r'data-quality-figure="(\w+)">([^<]*)<', html.split(f'data-source="{key}"')[1]))
        for key in (f"page:{weak.pk}", f"page:{rated.pk}")
        if f'data-source="{key}"' in html
    }
    assert rows[f"page:{weak.pk}"]["low_quality"] == "1"
    assert rows[f"page:{weak.pk}"]["mean_quality"] == "0.52"
    assert f"page:{rated.pk}" in rows, "thumbs-down still listed"
    assert f'data-source="page:{fine.pk}"' not in html, "neither rated down nor low quality"

    report = improvement_report_build(since=days_ago(7))
    markdown = improvement_report_markdown(report)
    assert "1 of 2 answers scored low quality" in markdown
    assert "## Low-quality answers" in markdown and "| Weak page | Page | 2 | 1 | 0.52 |" in markdown

    summary = analytics_summary()
    expected = {"scored": 4, "mean": pytest.approx(0.72, abs=1e-3), "low": 1, "low_below": 0.5}
    assert summary["quality"] == expected

    client.force_login(data.chat_log_reader())
    dashboard = client.get("/admin/chatbot/analytics/").content.decode()
    assert dict(re.findall(r'data-figure="([\w-]+)">([^<]*)<', dashboard))["answer-quality"] == "0.72"
    listing = client.get("/admin/chatbot/message/", {"q": "The answer"}).content.decode()
    assert "0.31" in listing
