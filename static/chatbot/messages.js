// DOM of one chat message: the user's question, or an answer with its sources, feedback and copy button.

import { renderMarkdown, safeUrl } from "./markdown.js";

let counter = 0;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  up: "M2 21h4V9H2v12zm20-11c0-1.1-.9-2-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10c0 1.1.9 2 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z",
  down: "M22 3h-4v12h4V3zM2 14c0 1.1.9 2 2 2h6.3l-1 4.6v.3c0 .4.2.8.4 1.1l1.1 1 6.6-6.6c.4-.4.6-.9.6-1.4V5c0-1.1-.9-2-2-2H7c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2z",
  copy: "M16 1H4c-1.1 0-2 .9-2 2v14h2V3h12V1zm3 4H8c-1.1 0-2 .9-2 2v14c0 1.1.9 2 2 2h11c1.1 0 2-.9 2-2V7c0-1.1-.9-2-2-2zm0 16H8V7h11v14z",
};

function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  return svg;
}

function iconButton(name, label, className = "chat-icon-button") {
  const button = el("button", className);
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.title = label;
  button.appendChild(icon(name));
  return button;
}

export function userMessage(content) {
  const item = el("article", "chat-message chat-message--user");
  item.setAttribute("aria-label", "Question");
  item.appendChild(el("p", "chat-message__text", content));
  return item;
}

/** The href of a source card: the page URL with its #anchor, or the document page with its page number. */
function sourceHref(source) {
  let url = source.url || "";
  if (source.source_type === "document" && source.page_number && !url.includes("?")) {
    const [path, hash = ""] = url.split("#");
    url = `${path}?page=${encodeURIComponent(source.page_number)}${hash ? `#${hash}` : ""}`;
  }
  return safeUrl(url);
}

/** "Title › Section" of a source or a decline's closest page. */
function placeLabel(place) {
  const title = place.title || (place.source_type === "document" ? "Document" : "Page");
  return place.section && place.section !== title ? `${title} › ${place.section}` : title;
}

function commentLabel(rating) {
  return rating === "up" ? "What was good about it? (optional)" : "What was wrong or missing? (optional)";
}

/** An assistant answer; render(), addSource(), finish() and the action handlers update it in place. */
export class AnswerView {
  constructor({ prefix, api, announce }) {
    counter += 1;
    this.localId = `${prefix}-a${counter}`;
    this.api = api;
    this.announce = announce;
    this.content = "";
    this.sources = [];
    this.related = []; // a decline's closest pages: [label, href]
    this.messageId = null;
    this.finished = false;

    this.element = el("article", "chat-message chat-message--assistant");
    this.element.setAttribute("aria-label", "Answer");
    this.element.id = this.localId;
    this.label = el("p", "chat-message__label");
    this.label.hidden = true;
    this.body = el("div", "chat-message__body chat-markdown");
    this.state = el("p", "chat-message__state");
    this.state.hidden = true;
    this.sourceList = el("ol", "chat-sources");
    this.sourceList.setAttribute("aria-label", "Sources");
    this.sourceList.hidden = true;
    this.element.append(this.label, this.body, this.state, this.sourceList);
    this.element.addEventListener("click", (event) => this.onCitationClick(event));
  }

  citationHref(number) {
    const known = this.sources.some((source) => source.number === number);
    return known || !this.finished ? `#${this.localId}-source-${number}` : null;
  }

  setStreaming(streaming) {
    if (streaming) {
      this.element.dataset.streaming = "true";
      this.element.setAttribute("aria-busy", "true");
    } else {
      delete this.element.dataset.streaming;
      this.element.removeAttribute("aria-busy");
    }
  }

  render() {
    this.body.replaceChildren(renderMarkdown(this.content, { citationHref: (n) => this.citationHref(n) }));
    const waiting = !this.content && !this.finished;
    this.state.classList.toggle("chat-typing", waiting);
    if (waiting) this.setState("Searching the knowledge base…");
    else if (!this.finished) this.setState("");
  }

  appendToken(text) {
    this.content += text;
  }

  addSource(source) {
    if (!source || this.sources.some((s) => s.number === source.number)) return;
    this.sources.push(source);
    this.sources.sort((a, b) => a.number - b.number);
    this.renderSources();
  }

  renderSources() {
    this.sourceList.replaceChildren(...this.sources.map((source) => this.sourceCard(source)));
    this.sourceList.hidden = this.sources.length === 0;
  }

  sourceCard(source) {
    const card = el("li", "chat-source");
    card.id = `${this.localId}-source-${source.number}`;
    card.tabIndex = -1;
    card.dataset.sourceType = source.source_type || "";
    const heading = el("p", "chat-source__title");
    heading.appendChild(el("span", "chat-source__number", `[${source.number}]`));
    const href = sourceHref(source);
    const label = placeLabel(source);
    if (href) {
      const link = el("a", "chat-source__link", label);
      link.setAttribute("href", href);
      heading.appendChild(link);
    } else {
      heading.appendChild(el("span", "", label));
    }
    card.appendChild(heading);
    if (source.page_number) card.appendChild(el("p", "chat-source__meta", `Page ${source.page_number}`));
    if (source.excerpt) card.appendChild(el("p", "chat-source__excerpt", source.excerpt));
    if (href) {
      // Quoted answers are only as good as their context: one plain step to read the source itself.
      const open = el("a", "chat-source__open", "Open source");
      open.setAttribute("href", href);
      card.appendChild(open);
    }
    return card;
  }

  onCitationClick(event) {
    const link = event.target.closest("a.chat-cite");
    if (!link) return;
    const card = this.element.querySelector(`#${CSS.escape(link.getAttribute("href").slice(1))}`);
    if (!card) return;
    event.preventDefault(); // keep the page's URL: the card is inside the chat, not the page
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
    card.focus({ preventScroll: true });
    card.classList.remove("chat-source--flash");
    void card.offsetWidth;
    card.classList.add("chat-source--flash");
  }

  /** Shows the final state: status note, actions (for a saved answer) and the answer's final text. */
  finish({
    content,
    sources,
    status,
    declined = false,
    related = [],
    quoted = false,
    messageId,
    error = "",
    feedback = null,
    scopeKind = null,
    onSearchAll = null,
  }) {
    this.finished = true;
    if (typeof content === "string" && (content || !this.content)) this.content = content;
    if (Array.isArray(sources) && sources.length) {
      this.sources = [];
      sources.forEach((s) => this.addSource(s));
    }
    if (messageId) this.messageId = messageId;
    this.setStreaming(false);
    this.render();
    this.setState("");
    this.state.classList.remove("chat-typing");
    this.element.dataset.status = status || "complete";
    if (declined) this.element.classList.add("chat-message--declined");
    if (status === "partial") this.setState("Stopped before the answer was complete.");
    else if (status === "error") this.setState(error || "The answer failed.", true);
    else if (declined && scopeKind) this.scopedDecline(scopeKind, onSearchAll);
    if (declined && status !== "error" && Array.isArray(related) && related.length) this.showRelated(related, scopeKind);
    if (quoted && !declined && status !== "error" && this.sources.length) this.showQuoted();
    if (this.messageId && status !== "error" && this.content) this.element.appendChild(this.actions(feedback));
  }

  /** No model wrote this: say so, rather than pass joined quotations off as a written answer. */
  showQuoted() {
    const count = this.sources.length;
    this.label.replaceChildren(el("span", "chat-badge chat-badge--quoted", `Quoted from ${count} source${count === 1 ? "" : "s"}`));
    this.label.hidden = false;
    this.element.dataset.quoted = "true";
  }

  /** A decline inside a scope says where it looked (instead of the generic "the knowledge base doesn't
   * cover this", which is not what was searched) and offers to look everywhere. */
  scopedDecline(scopeKind, onSearchAll) {
    const where = { page: "on this page", pages: "on these pages", files: "in these files" }[scopeKind] ?? "in this chat's sources";
    const note = el("div", "chat-scoped-decline");
    note.appendChild(el("p", "chat-scoped-decline__text", `Not found ${where}.`));
    note.appendChild(el("p", "chat-scoped-decline__hint", "Other pages and files in the knowledge base may cover it."));
    if (onSearchAll) {
      const button = el("button", "chat-button chat-button--primary chat-search-all", "Search all knowledge");
      button.type = "button";
      button.addEventListener("click", () => onSearchAll(button));
      note.appendChild(button);
    }
    this.body.replaceChildren(note);
  }

  /** A decline still points to where retrieval looked closest: links to read, labelled as such, because
   * the answerer found no sentence there that answers the question. Not inside a one-page scope: the
   * reader is on that page already, and "Search all knowledge" is the way on. */
  showRelated(related, scopeKind) {
    const links = related.map((place) => [place, sourceHref(place)]).filter(([, href]) => href);
    if (!links.length || scopeKind === "page") return;
    const nav = el("nav", "chat-related");
    const headingId = `${this.localId}-related`;
    nav.setAttribute("aria-labelledby", headingId);
    const title = { pages: "Closest of these pages", files: "Closest of these files" }[scopeKind] ?? "Closest pages";
    const heading = el("p", "chat-related__heading", title);
    heading.id = headingId;
    const hint = el("p", "chat-related__hint", "They may not answer the question, but they are where the search came closest.");
    const list = el("ul", "chat-related__list");
    for (const [place, href] of links) {
      const item = el("li");
      const link = el("a", "chat-related__link", placeLabel(place));
      link.setAttribute("href", href);
      item.appendChild(link);
      list.appendChild(item);
    }
    nav.append(heading, hint, list);
    this.sourceList.before(nav);
    this.related = links.map(([place, href]) => [placeLabel(place), href]);
  }

  /** The answer as copied: its text, then each cited source's (or a decline's closest page's) title and
   * absolute link. */
  copyText() {
    const lines = [this.content.trim()];
    const absolute = (href) => (href ? ` ${new URL(href, window.location.href).href}` : "");
    const cited = this.sources.map((source) => `[${source.number}] ${placeLabel(source)}${absolute(sourceHref(source))}`);
    if (cited.length) lines.push("", "Sources:", ...cited);
    if (this.related?.length) lines.push("", "Closest pages:", ...this.related.map(([label, href]) => `- ${label}${absolute(href)}`));
    return lines.join("\n");
  }

  setState(text, isError = false) {
    this.state.textContent = text;
    this.state.hidden = !text;
    this.state.classList.toggle("chat-message__state--error", isError);
  }

  /** Thumbs, copy and the comment form; `feedback` ({rating, comment}) is the user's earlier rating. */
  actions(feedback = null) {
    const bar = el("div", "chat-actions");
    const up = iconButton("up", "Helpful answer");
    const down = iconButton("down", "Not helpful answer");
    const copy = iconButton("copy", "Copy answer");
    const status = el("span", "chat-actions__status");
    status.setAttribute("role", "status");
    for (const [button, rating] of [[up, "up"], [down, "down"]]) {
      button.dataset.rating = rating;
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => this.rate(rating, { up, down, status }));
    }
    copy.addEventListener("click", () => this.copy(status));
    bar.append(up, down, copy, status);
    this.feedbackForm = this.commentForm(status);
    if (feedback && (feedback.rating === "up" || feedback.rating === "down")) {
      this.rating = feedback.rating;
      up.setAttribute("aria-pressed", String(feedback.rating === "up"));
      down.setAttribute("aria-pressed", String(feedback.rating === "down"));
      status.textContent = feedback.rating === "up" ? "You marked this as helpful." : "You marked this as not helpful.";
      this.feedbackForm.querySelector(".chat-feedback__label").textContent = commentLabel(feedback.rating);
      this.feedbackForm.querySelector("textarea").value = feedback.comment || "";
    }
    const wrapper = el("div", "chat-message__footer");
    wrapper.append(bar, this.feedbackForm);
    return wrapper;
  }

  commentForm(status) {
    const form = el("form", "chat-feedback");
    form.hidden = true;
    const id = `${this.localId}-comment`;
    const label = el("label", "chat-feedback__label", "What was wrong or missing? (optional)");
    label.htmlFor = id;
    const textarea = el("textarea");
    textarea.id = id;
    textarea.rows = 2;
    textarea.maxLength = 2000;
    const send = el("button", "chat-button chat-button--primary", "Send feedback");
    send.type = "submit";
    const skip = el("button", "chat-button", "Skip");
    skip.type = "button";
    skip.addEventListener("click", () => {
      form.hidden = true;
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      send.disabled = true;
      try {
        await this.api.feedback(this.messageId, { rating: this.rating, comment: textarea.value.trim() });
        form.hidden = true;
        status.textContent = "Thanks for your feedback.";
      } catch (error) {
        status.textContent = `Feedback not saved: ${error.message}`;
      } finally {
        send.disabled = false;
      }
    });
    const buttons = el("div", "chat-feedback__buttons");
    buttons.append(send, skip);
    form.append(label, textarea, buttons);
    return form;
  }

  async rate(rating, { up, down, status }) {
    this.rating = rating;
    up.setAttribute("aria-pressed", String(rating === "up"));
    down.setAttribute("aria-pressed", String(rating === "down"));
    try {
      await this.api.feedback(this.messageId, { rating });
      status.textContent = rating === "up" ? "Marked as helpful." : "Marked as not helpful.";
      this.feedbackForm.querySelector(".chat-feedback__label").textContent = commentLabel(rating);
      this.feedbackForm.hidden = false;
      const textarea = this.feedbackForm.querySelector("textarea");
      textarea.value = ""; // a new rating starts without a comment (the server's too)
      textarea.focus();
    } catch (error) {
      status.textContent = `Feedback not saved: ${error.message}`;
    }
  }

  async copy(status) {
    const text = this.copyText();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API refused (permissions, insecure origin): copy from a selection instead.
      const area = el("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    status.textContent = "Answer copied.";
  }
}

/** A note inside the log with an optional action button (retry, sign in). */
export function noticeMessage({ text, actionLabel, onAction, href }) {
  const item = el("div", "chat-message chat-message--notice");
  item.setAttribute("role", "alert");
  item.appendChild(el("p", "", text));
  if (actionLabel && href) {
    const link = el("a", "chat-button", actionLabel);
    link.setAttribute("href", href);
    item.appendChild(link);
  } else if (actionLabel) {
    const button = el("button", "chat-button", actionLabel);
    button.type = "button";
    button.addEventListener("click", () => onAction(button));
    item.appendChild(button);
  }
  return item;
}
