"""The answer renderer (static/chatbot/markdown.js) in the browser: Markdown becomes DOM nodes, never HTML."""

from __future__ import annotations

import pytest

from tests.browser.conftest import chromium, site_start

pytestmark = pytest.mark.browser

RENDER = """
async (cases) => {
  const { renderMarkdown } = await import('/static/chatbot/markdown.js');
  return cases.map((text) => {
    const box = document.createElement('div');
    const linkHosts = ['docs.wagtail.org', '.example.org'];
    box.appendChild(renderMarkdown(text, { citationHref: (n) => `#source-${n}`, linkHosts }));
    return box.innerHTML;
  });
}
"""

CASES = {
    "script": "Run <script>alert(1)</script> now",
    "img_html": 'Look <img src=x onerror="alert(1)"> here',
    "js_link": "[click](javascript:alert(1))",
    "js_link_case": "[click](JavaScript:alert(1))",
    "js_link_entity": "[click](javascript&#58;alert(1))",
    "data_link": "[click](data:text/html;base64,PHNjcmlwdD4=)",
    "vbscript_link": "[click](vbscript:msgbox)",
    "protocol_relative": "[click](//evil.example/x)",
    "backslash": "[click](/\\evil.example/x)",
    "image": "![logo](http://evil.example/x.png)",
    "https_link": "[docs](https://docs.wagtail.org/en/stable/)",
    "relative_link": "[page](/operations/backups/#backup-schedule)",
    "anchor_link": "[section](#restoring)",
    "emphasis": "**bold**, *italic*, `a <b> code` and snake_case_name",
    "lists": "Steps:\n\n1. First\n2. Second\n\n- apple\n- pear",
    "code_block": "```html\n<b>not bold</b>\n```",
    "citations": "Backups run hourly [1] and are copied [2, 3].",
    # A quote several sources repeat (chatbot.llm.extractive) cites them side by side.
    "adjacent_citations": "`WAGTAILAPI_LIMIT_MAX`: Default is 20. [1][2]",
    "bare_url": "See https://example.org/path.",
    "subdomain_link": "[api](https://api.example.org/v1)",
    "offsite_link": "[the guide](https://evil.example/leak?d=the+secret)",
    "offsite_autolink": "<https://evil.example/leak?d=x>",
    "offsite_bare_url": "See https://evil.example/leak?d=x now",
    "lookalike_host": "[docs](https://docs.wagtail.org.evil.example/)",
}


@pytest.fixture(scope="module")
def rendered(site_environment) -> dict[str, str]:
    site = site_start(site_environment)
    try:
        with chromium() as browser:
            page = browser.new_page(base_url=site.url)
            page.goto(
                "/static/chatbot/chat.css"
            )  # any URL of the site: the module is imported from its origin
            html = page.evaluate(RENDER, list(CASES.values()))
    finally:
        site.stop()
    return dict(zip(CASES, html, strict=True))


def test_markup_in_answers_is_text(rendered) -> None:
    assert rendered["script"] == "<p>Run &lt;script&gt;alert(1)&lt;/script&gt; now</p>"
    assert "<img" not in rendered["img_html"] and "&lt;img" in rendered["img_html"]
    assert (
        rendered["code_block"]
        == '<pre class="chat-code"><code data-language="html">&lt;b&gt;not bold&lt;/b&gt;</code></pre>'
    )


@pytest.mark.parametrize(
    "case", ["js_link", "js_link_case", "data_link", "vbscript_link", "protocol_relative", "backslash"]
)
def test_unsafe_link_urls_are_dropped(rendered, case) -> None:
    assert rendered[case] == "<p>click</p>"


def test_entities_in_link_urls_are_not_decoded(rendered) -> None:
    # Attributes set from script are never entity-decoded: this is a harmless relative path on the site.
    assert rendered["js_link_entity"] == '<p><a href="javascript&amp;#58;alert(1)">click</a></p>'


def test_images_are_never_loaded(rendered) -> None:
    assert rendered["image"] == "<p>![logo](http://evil.example/x.png)</p>"


def test_safe_links(rendered) -> None:
    assert rendered["https_link"] == (
        '<p><a href="https://docs.wagtail.org/en/stable/" rel="noopener noreferrer nofollow" '
        'target="_blank">docs</a></p>'
    )
    assert rendered["relative_link"] == '<p><a href="/operations/backups/#backup-schedule">page</a></p>'
    assert rendered["anchor_link"] == '<p><a href="#restoring">section</a></p>'
    assert rendered["bare_url"] == (
        '<p>See <a href="https://example.org/path" rel="noopener noreferrer nofollow" target="_blank">'
        "https://example.org/path</a>.</p>"
    )


def test_formatting(rendered) -> None:
    assert rendered["emphasis"] == (
        "<p><strong>bold</strong>, <em>italic</em>, <code>a &lt;b&gt; code</code> and snake_case_name</p>"
    )
    assert rendered["lists"] == (
        "<p>Steps:</p><ol><li>First</li><li>Second</li></ol><ul><li>apple</li><li>pear</li></ul>"
    )


def test_citation_markers_link_to_source_cards(rendered) -> None:
    cite = '<a class="chat-cite" href="#source-{n}" data-citation="{n}" aria-label="Source {n}">[{n}]</a>'
    assert rendered["citations"] == (
        f"<p>Backups run hourly {cite.format(n=1)} and are copied {cite.format(n=2)} {cite.format(n=3)}.</p>"
    )
    assert rendered["adjacent_citations"] == (
        f"<p><code>WAGTAILAPI_LIMIT_MAX</code>: Default is 20. {cite.format(n=1)}{cite.format(n=2)}</p>"
    )


def test_links_to_other_sites_are_text(rendered) -> None:
    # Only this site and the allowed hosts (CHATBOT_ANSWER_LINK_HOSTS) become links: an injected
    # instruction cannot turn the conversation into a one-click request to another site.
    assert rendered["subdomain_link"] == (
        '<p><a href="https://api.example.org/v1" rel="noopener noreferrer nofollow" '
        'target="_blank">api</a></p>'
    )
    assert rendered["offsite_link"] == "<p>the guide</p>"
    assert rendered["offsite_autolink"] == "<p>&lt;https://evil.example/leak?d=x&gt;</p>"
    assert rendered["offsite_bare_url"] == "<p>See https://evil.example/leak?d=x now</p>"
    assert rendered["lookalike_host"] == "<p>docs</p>"
