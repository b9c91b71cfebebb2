"""The public shapes of what the chat service produces: the specified field names next to today's.

The service's events and stored sources (`chatbot.events.StreamEvent`, `Message.sources`) keep their own
names; the API adds the specified ones here, once, for the SSE stream and the REST messages alike:

- every SSE `data:` payload carries `"type"` (the same as its `event:` line);
- a source also carries `doc_id` (its source key, "page:12" or "document:3", the form a session scope
  takes), `section_title` (= `section`), and `chunk_index` / `relevance_score` (null for answers saved
  before they were recorded);
- `complete` also carries `tokens` (= `tokens_used`);
- `complete` and a REST answer carry `quoted`: true when no model wrote it (the extractive answerer quotes
  the sources' sentences), so the chat can say "Quoted from N sources" instead of passing quotes off as prose;
- a decline's `related` places (the pages and files retrieval found closest) carry `doc_id` and
  `section_title` like sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chatbot.events import StreamEvent
from chatbot.llm.extractive import ExtractiveLLM


def public_source(source: Mapping[str, Any]) -> dict[str, Any]:
    """One cited source with the specified names added (today's stay)."""
    public = public_place(source)
    public.setdefault("chunk_index", None)
    public.setdefault("relevance_score", None)
    return public


def public_sources(sources: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [public_source(source) for source in sources or () if isinstance(source, Mapping)]


def public_place(place: Mapping[str, Any]) -> dict[str, Any]:
    """A page or file (a cited source, a decline's related page) with `doc_id` and `section_title` added."""
    public = dict(place)
    public["doc_id"] = f"{place.get('source_type', '')}:{place.get('source_id', '')}"
    public["section_title"] = place.get("section", "")
    return public


def public_places(places: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [public_place(place) for place in places or () if isinstance(place, Mapping)]


def answer_quoted(model: str | None) -> bool:
    """Whether an answer's text is quoted from its sources rather than written by a generating model."""
    return model == ExtractiveLLM.model_name


def event_data(event: StreamEvent, *, include_sources: bool = True) -> dict[str, Any]:
    """The `data:` payload of an SSE event: `type` first, then the event's own fields with the aliases."""
    data: dict[str, Any] = {"type": event.type}
    data.update((key, value) for key, value in event.data.items() if key != "type")
    if event.type == "source":
        data.update(public_source(event.data))
    elif event.type == "complete":
        data["sources"] = public_sources(event.data.get("sources")) if include_sources else []
        data["related"] = public_places(event.data.get("related")) if include_sources else []
        data["tokens"] = event.data.get("tokens_used", 0)
        data["quoted"] = answer_quoted(event.data.get("model"))
    return data
