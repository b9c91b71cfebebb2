"""Answer units of the extractive answerer: a sentence with the code block it introduces, quoted whole and
shown as code."""

from __future__ import annotations

from asgiref.sync import async_to_sync

from chatbot.llm import extractive
from chatbot.llm.extractive import SourcePassage, extractive_answer, sentences_stream
from chatbot.llm.sentences import clean_inline, markdown_sentences, markdown_units
from chatbot.rag.citations import cited_numbers

PASSAGE = """Site-specific settings are read per request.

To read the settings inside a view, call the class method for_request with the request:

```python
settings = SocialMediaSettings.for_request(request=request)
```

The Site is found from the request's host name.

```{toctree}
other_page
```

```python
unrelated = True
```
"""


def test_a_sentence_ending_with_a_colon_carries_the_code_block_after_it() -> None:
    units = markdown_units(PASSAGE)
    assert [text for text, _ in units] == markdown_sentences(PASSAGE), "the same sentences as before"
    code = dict(units)
    assert code[
        "To read the settings inside a view, call the class method for_request with the request:"
    ] == ("```python\nsettings = SocialMediaSettings.for_request(request=request)\n```")
    assert code["The Site is found from the request's host name."] == "", "code no sentence introduces"
    assert code["Site-specific settings are read per request."] == ""


def test_the_answer_quotes_the_unit_and_streams_its_code_fenced_after_the_citation() -> None:
    sources = [SourcePassage(number=1, title="Settings", text=PASSAGE)]
    question = "How do I read the site settings in a view with for_request?"
    sentences = extractive_answer(question, sources, use_embedder=False, min_score=0.1)
    assert sentences[0].code.startswith("```python\nsettings = SocialMediaSettings.for_request")

    async def text() -> str:
        return "".join([c.text async for c in sentences_stream(sentences[:1])])

    streamed = async_to_sync(text)()
    assert streamed.startswith("To read the settings inside a view")
    assert ":\n" not in streamed.split("[1]")[0], "the sentence stays one line"
    assert (
        "with the request: [1]\n\n```python\nsettings = SocialMediaSettings.for_request(request=request)\n```"
        in (streamed)
    )


LISTED = """A panel can be given several options.

The FieldPanel constructor takes these keyword arguments:

- `heading`: the label shown above the field
- `classname`: CSS classes added to the panel,
  such as "title" for a large input
- `help_text`: a hint shown under the field

Panels are listed in content_panels.
"""


def test_a_sentence_ending_with_a_colon_carries_the_list_after_it() -> None:
    units = dict(markdown_units(LISTED))
    assert units["The FieldPanel constructor takes these keyword arguments:"] == (
        "- `heading`: the label shown above the field\n"
        '- `classname`: CSS classes added to the panel, such as "title" for a large input\n'
        "- `help_text`: a hint shown under the field"
    )
    assert units["`heading`: the label shown above the field"] == "", "an item is still a unit of its own"
    assert units["Panels are listed in content_panels."] == "", "the list ends at the next paragraph"
    assert units["A panel can be given several options."] == ""


def test_a_long_list_is_cut_and_the_answer_does_not_quote_an_item_twice() -> None:
    long_list = "The settings are:\n\n" + "\n".join(
        f"- setting number {n} is named SETTING_{n}" for n in range(30)
    )
    attached = dict(markdown_units(long_list))["The settings are:"]
    assert attached.count("\n- ") == 12 and attached.endswith("- …")

    sources = [SourcePassage(number=1, title="FieldPanel", text=LISTED)]
    question = "What keyword arguments does the FieldPanel constructor take, like heading and help_text?"
    sentences = extractive_answer(question, sources, use_embedder=False, min_score=0.1)
    assert sentences[0].text == "The FieldPanel constructor takes these keyword arguments:"
    assert "help_text" in sentences[0].code
    assert all(s.text not in sentences[0].code for s in sentences[1:]), "an item quoted again on its own"


EXAMPLE = """You can limit which providers may be used by listing them in the finder configuration.
For example, this configuration will only allow content from Vimeo and YouTube.

```python
WAGTAILEMBEDS_FINDERS = [{"class": "wagtail.embeds.finders.oembed", "providers": [youtube, vimeo]}]
```

See the oEmbed docs for more providers.
"""


def test_a_sentence_announcing_an_example_carries_the_code_after_it() -> None:
    units = dict(markdown_units(EXAMPLE))
    assert units[
        "For example, this configuration will only allow content from Vimeo and YouTube."
    ].startswith("```python\nWAGTAILEMBEDS_FINDERS")
    assert units["See the oEmbed docs for more providers."] == ""


LANDING = """Forms can redirect after they are submitted.

You can override the `render_landing_page` method on your `FormPage` to change what is rendered when a form
submits. In the example below we have added a `thank_you_page` field that enables custom redirects after a
form submits to the selected page. It is chosen in the admin like any other page.

Unrelated closing remarks about styling form fields follow here.
"""


def test_the_lead_is_quoted_with_the_sentence_it_leans_on_and_the_one_after_it() -> None:
    """The key fact (`render_landing_page`) is in the sentence before the one matching the question best;
    "In the example below …" leans on it, so the lead quotes both, then the next sentence."""
    sources = [SourcePassage(number=1, title="Form builder", text=LANDING)]
    question = "After a form submits, how do I redirect to a thank-you page picked in the admin?"
    sentences = extractive_answer(question, sources, use_embedder=False, min_score=0.1)
    lead = sentences[0].text
    assert lead.startswith("You can override the `render_landing_page` method"), lead
    assert "In the example below we have added a `thank_you_page` field" in lead
    assert lead.endswith("It is chosen in the admin like any other page.")
    assert all(s.text not in lead for s in sentences[1:]), "a sentence of the lead quoted again"


def test_a_lead_that_stands_alone_takes_only_the_sentence_after_it() -> None:
    sources = [SourcePassage(number=1, title="Form builder", text=LANDING)]
    question = "Which method do I override on FormPage to change what renders when a form submits?"
    lead = extractive_answer(question, sources, use_embedder=False, min_score=0.1)[0].text
    assert lead.startswith("You can override the `render_landing_page` method")
    assert lead.endswith("to the selected page."), "the next sentence, and only that one"
    assert "Forms can redirect" not in lead


def test_an_answer_quotes_at_most_one_unit_from_a_source_other_than_its_leads() -> None:
    """A second or third source's sentence is more often a near-miss than support (chatbot/RAG.md)."""
    texts = (
        "Sea otters sleep in rafts to keep together, holding hands.",
        "Sea otters sleep in rafts to keep together, wrapping kelp around their bodies as anchors.",
        "Sea otters sleep in rafts to keep together, and mothers carry pups on their chests.",
    )
    sources = [SourcePassage(number=n, title="Otters", text=t) for n, t in enumerate(texts, start=1)]
    question = "How do sea otters keep together when they sleep in rafts?"
    sentences = extractive_answer(question, sources, use_embedder=False)
    assert [s.source_number for s in sentences] == [1, 2], [s.text for s in sentences]


def test_a_lead_starting_in_lower_case_is_quoted_with_the_start_of_its_sentence() -> None:
    """A line break in the source cut the sentence: its first half comes along instead of a quote that
    starts mid-sentence."""
    text = (
        "For example, given a StructBlock that represents either an internal or external link,\n\n"
        "you may want to make a `url` property available on the value of the link block.\n\n"
        "Define it on a StructValue subclass and set the block's `value_class` option."
    )
    sources = [SourcePassage(number=1, title="Custom blocks", text=text)]
    question = "Where do I make a url property available for my link block value?"
    lead = extractive_answer(question, sources, use_embedder=False, min_score=0.1)[0].text
    assert lead.startswith("For example, given a StructBlock"), lead
    assert lead.endswith("set the block's `value_class` option.")


def test_a_cross_reference_without_text_leaves_no_dangling_see() -> None:
    assert clean_inline("add them to the search index - see {ref}`<search_indexing>`.") == (
        "add them to the search index."
    )
    assert clean_inline("Register it with the hook (see ).") == "Register it with the hook."
    assert clean_inline("As you will see.") == "As you will see.", "a sentence ending in 'see' is kept"
    assert clean_inline("Add it (see below).") == "Add it (see below)."


REORDER_LEAD = (
    "Reordering lets editors arrange the items of a listing by dragging them.\n"
    "It is useful when a listing needs an order of its own, such as featured items first.\n"
)
REORDER = REORDER_LEAD + (
    "To let editors arrange the items by dragging, add an integer field and set it as the viewset's "
    "`sort_order_field`.\n"
)
REORDER_QUESTION = "Can editors arrange the items of our staff listing by dragging rows?"


def test_a_unit_of_the_leads_passage_joins_the_answer_at_a_lower_bar(monkeypatch) -> None:
    """The sentence restating the question leads; the one naming the setting, a little less supported and
    two sentences further, comes with it."""
    sources = [SourcePassage(number=1, title="Generic views", text=REORDER)]
    # Support: the lead 0.254, the setting's sentence 0.216 (above 0.85 × 0.23, below 0.23).
    sentences = extractive_answer(REORDER_QUESTION, sources, use_embedder=False, min_score=0.23)
    assert sentences[0].text.startswith("Reordering lets editors arrange")
    assert any("`sort_order_field`" in s.text for s in sentences), [s.text for s in sentences]
    monkeypatch.setattr(extractive, "_LEAD_DOCUMENT_BAR", 1.0)
    sentences = extractive_answer(REORDER_QUESTION, sources, use_embedder=False, min_score=0.23)
    assert not any("`sort_order_field`" in s.text for s in sentences), "admitted by the lower bar only"


def test_a_unit_of_another_passage_still_needs_the_full_bar() -> None:
    setting = (
        "To let editors arrange the items of a listing by dragging, set the viewset's `sort_order_field`."
    )
    sources = [
        SourcePassage(number=1, title="Generic views", text=REORDER_LEAD),
        SourcePassage(number=2, title="Generic views", text=setting),
    ]
    # Support: the lead 0.220, the other passage's sentence 0.207 (above 0.85 × 0.215, below 0.215).
    sentences = extractive_answer(REORDER_QUESTION, sources, use_embedder=False, min_score=0.215)
    assert [s.source_number for s in sentences] == [1], [s.text for s in sentences]
    sentences = extractive_answer(REORDER_QUESTION, sources, use_embedder=False, min_score=0.2)
    assert [s.source_number for s in sentences] == [1, 2], "quoted once it reaches the bar"


def test_a_unit_of_another_passage_of_the_leads_document_joins_at_the_lower_bar() -> None:
    setting = (
        "To let editors arrange the items of a listing by dragging, set the viewset's `sort_order_field`."
    )
    sources = [
        SourcePassage(number=1, title="Generic views", text=REORDER_LEAD, document="page:7"),
        SourcePassage(number=2, title="Generic views", text=setting, document="page:7"),
    ]
    # The same support as above (0.207 against a bar of 0.215): the page's other passage is on its subject.
    sentences = extractive_answer(REORDER_QUESTION, sources, use_embedder=False, min_score=0.215)
    assert [s.source_number for s in sentences] == [1, 2], [s.text for s in sentences]


BUG_QUESTION = "What labels does a new bug report get on the tracker?"
BUG_LEAD = "Report a new bug on the tracker: every new bug report on the tracker is welcome.\n"
BUG_LABELS = "Once opened, an issue is given the `type:Bug` and `status:Unconfirmed` labels."


def test_a_sentence_of_the_leads_document_needs_only_the_bar_however_far_below_the_lead() -> None:
    """The sentence restating the question leads (support 0.574); the one holding the labels scores 0.213,
    below 0.75 of the lead. From the lead's page it is quoted; from another page it is a near-miss."""

    def answer(document: str, *, min_score: float = 0.2) -> list[int]:
        sources = [
            SourcePassage(number=1, title="Issue tracking", text=BUG_LEAD, document="page:1"),
            SourcePassage(number=2, title="Contributing", text=BUG_LABELS, document=document),
        ]
        sentences = extractive_answer(BUG_QUESTION, sources, use_embedder=False, min_score=min_score)
        return [s.source_number for s in sentences]

    assert answer("page:1") == [1, 2]
    assert answer("page:2") == [1], "another page's weak sentence stays out"
    assert answer("page:1", min_score=0.3) == [1], "the support bar still applies (0.85 × 0.3 > 0.213)"
    assert answer("") == [1], "a passage of unknown document is a document of its own"


LIMIT = """```python
WAGTAILAPI_LIMIT_MAX = 500
```

Default is 20, used to change the maximum number of results a user can request at a time.
"""


def test_a_quote_from_a_reference_entry_names_the_identifier_its_heading_documents() -> None:
    question = "What is the default cap on how many results an API client can request at a time?"

    def lead(heading: str, text: str = LIMIT) -> str:
        sources = [SourcePassage(number=1, title="Settings", heading=heading, text=text)]
        return extractive_answer(question, sources, use_embedder=False, min_score=0.1)[0].text

    assert lead("WAGTAILAPI_LIMIT_MAX").startswith("`WAGTAILAPI_LIMIT_MAX`: Default is 20, used to change")
    assert lead("`get_url()`").startswith("`get_url()`: Default is 20")
    assert lead("API limits").startswith("Default is 20"), "a prose heading is no subject"
    named = LIMIT.replace("Default is 20", "`WAGTAILAPI_LIMIT_MAX` defaults to 20")
    assert lead("WAGTAILAPI_LIMIT_MAX", named).startswith("`WAGTAILAPI_LIMIT_MAX` defaults to 20"), (
        "named once"
    )


def test_a_sentence_several_sources_repeat_cites_them_all_and_a_deictic_lead_names_their_titles() -> None:
    fix = "This release addresses a reflected XSS vulnerability in the dynamic image URL generator view."
    sources = [
        SourcePassage(
            number=1, title="Wagtail 7.3.3 release notes", heading="CVE-2026-1: Reflected XSS", text=fix
        ),
        SourcePassage(
            number=2, title="Wagtail 7.4.2 release notes", heading="CVE-2026-1: Reflected XSS", text=fix
        ),
        SourcePassage(number=3, title="Images", text="The image URL generator view builds rendition URLs."),
    ]
    question = "Which releases fixed the reflected XSS in the dynamic image URL generator view?"
    sentences = extractive_answer(question, sources, use_embedder=False, min_score=0.1)
    lead = sentences[0]
    assert lead.text == f"Wagtail 7.3.3 release notes; Wagtail 7.4.2 release notes: {fix}"
    assert (lead.source_number, lead.also) == (1, (2,))

    async def text() -> str:
        return "".join([c.text async for c in sentences_stream(sentences)])

    streamed = async_to_sync(text)()
    assert f"{fix} [1][2]" in streamed
    assert cited_numbers(streamed)[:2] == [1, 2]
    alone = extractive_answer(question, sources[:1], use_embedder=False, min_score=0.1)[0]
    assert alone.text == f"Wagtail 7.3.3 release notes: {fix}" and alone.also == ()


def test_a_list_under_a_heading_is_quoted_with_the_heading_that_introduces_it() -> None:
    sources = [
        SourcePassage(
            number=1,
            title="Headless support",
            heading="GraphQL libraries compatible with Wagtail",
            text="- wagtail-grapple by Torchbox\n- strawberry-wagtail by Patrick Arminio\n",
        ),
        SourcePassage(
            number=2, title="Headless support", text="GraphQL is not natively supported in Wagtail."
        ),
    ]
    question = "Which GraphQL libraries are compatible with Wagtail?"
    lead = extractive_answer(question, sources, use_embedder=False, min_score=0.1)[0]
    assert lead.text == "GraphQL libraries compatible with Wagtail:"
    assert lead.code == "- wagtail-grapple by Torchbox\n- strawberry-wagtail by Patrick Arminio"
    prose = SourcePassage(
        number=1, title="Headless support", heading="Libraries", text="Use wagtail-grapple."
    )
    assert markdown_units(extractive._heading_introduces_list(prose)) == [("Use wagtail-grapple.", "")]


def test_a_supporting_unit_brings_the_next_sentence_when_that_one_carries_their_paragraphs_code() -> None:
    finders = (
        "For example, this configuration only allows embeds from Vimeo and YouTube.\n"
        "It also adds a custom provider:\n\n"
        "```python\nWAGTAILEMBEDS_FINDERS = [{'class': 'oembed', 'providers': [youtube, vimeo]}]\n```\n"
    )
    sources = [
        SourcePassage(
            number=1,
            title="Embeds",
            text="Wagtail can allow embeds only from the providers you list, such as YouTube and Vimeo.\n"
            "Other URLs are refused.",
        ),
        SourcePassage(number=2, title="Embedded content", text=finders),
    ]
    question = "How do I only allow embeds from YouTube and Vimeo?"
    sentences = extractive_answer(question, sources, use_embedder=False, min_score=0.1)
    assert [s.source_number for s in sentences] == [1, 2]
    assert sentences[1].text == (
        "For example, this configuration only allows embeds from Vimeo and YouTube. "
        "It also adds a custom provider:"
    )
    assert sentences[1].code.startswith("```python\nWAGTAILEMBEDS_FINDERS")
    plain = finders.replace("It also adds a custom provider:\n\n", "It also adds a custom provider.\n\n")
    sources[1] = SourcePassage(number=2, title="Embedded content", text=plain)
    supporting = extractive_answer(question, sources, use_embedder=False, min_score=0.1)[1]
    assert supporting.text.endswith("from Vimeo and YouTube.") and not supporting.code, (
        "no block, no neighbour"
    )


def test_an_identifier_is_named_once_per_answer() -> None:
    question = "What is the default cap on how many results an API client can request at a time?"
    sources = [
        SourcePassage(number=1, title="Settings", heading="WAGTAILAPI_LIMIT_MAX", text=LIMIT),
        SourcePassage(
            number=2,
            title="API configuration",
            heading="WAGTAILAPI_LIMIT_MAX",
            text="(default: 20) Results a user may request.",
        ),
    ]
    sentences = extractive_answer(question, sources, use_embedder=False, min_score=0.1)
    assert [s.source_number for s in sentences] == [2, 1]
    assert sentences[0].text == "`WAGTAILAPI_LIMIT_MAX`: (default: 20) Results a user may request."
    assert sentences[1].text.startswith("Default is 20, used to change"), sentences[1].text


def test_a_near_duplicate_is_not_quoted_again_nor_cited_for_what_it_does_not_say() -> None:
    fix = "This release addresses a reflected XSS vulnerability in the dynamic image URL generator view."
    near = fix.replace(" view.", " view of the admin.")
    sources = [
        SourcePassage(number=1, title="Wagtail 7.3.3 release notes", text=fix),
        SourcePassage(number=2, title="Wagtail 7.4.2 release notes", text=near),
    ]
    question = "Which releases fixed the reflected XSS in the dynamic image URL generator view?"
    sentences = extractive_answer(question, sources, use_embedder=False, min_score=0.1)
    assert [(s.source_number, s.also) for s in sentences] == [(1, ())], [s.text for s in sentences]


def test_the_sentence_quoted_with_the_lead_takes_no_place_of_its_own() -> None:
    """The lead's next sentence, second best here, is quoted with it; the third best still gets the second
    place."""
    text = (
        "Sea otters stay together while they sleep by holding hands in rafts.\n"
        "Holding hands keeps sea otters together while they sleep.\n"
        "Young otters learn this from their mothers.\n"
        "Sea otters also stay together at night by wrapping kelp around their bodies."
    )
    sources = [SourcePassage(number=1, title="Otters", text=text)]
    question = "How do sea otters stay together while they sleep?"
    sentences = extractive_answer(question, sources, use_embedder=False, min_score=0.1, max_sentences=2)
    texts = [s.text for s in sentences]
    assert texts[0] == (
        "Sea otters stay together while they sleep by holding hands in rafts. "
        "Holding hands keeps sea otters together while they sleep."
    )
    assert len(texts) == 2 and texts[1].startswith("Sea otters also stay together at night"), texts


def test_a_supporting_unit_before_the_lead_does_not_bring_the_leads_code_again() -> None:
    """The first fresh-clone CI run of this rule caught it: the sentence before the lead, quoted as a
    supporting unit, brought the lead (its next sentence) and its code a second time."""
    text = (
        "Site settings differ per site. To read them inside a view, call the class method `for_request` "
        "with the request:\n\n```python\nsocial = SocialMediaSettings.for_request(request=request)\n```\n\n"
        "The site is found from the request's host name."
    )
    sources = [SourcePassage(number=1, title="Site settings", text=text)]
    question = "How do I read the site settings inside a view?"
    # With the knowledge embedder, as the site answers: the sentence before the lead is supported too.
    sentences = extractive_answer(question, sources, semantic_min_score=0.2)
    assert "Site settings differ per site." in [s.text for s in sentences[1:]], [s.text for s in sentences]
    assert sum(s.code.count("```python") for s in sentences) == 1, [(s.text, s.code) for s in sentences]
    assert sum(s.text.count("call the class method") for s in sentences) == 1
