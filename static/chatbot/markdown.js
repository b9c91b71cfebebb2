// A small, safe Markdown renderer for model output.
//
// It builds DOM nodes and only ever assigns text through `textContent` / `createTextNode`, so nothing in
// the answer is parsed as HTML. Links keep only http(s), site-relative and #fragment URLs, to this site or
// the hosts it allows (others are shown as text); images are never loaded (`![alt](src)` stays text). Supported: paragraphs, line breaks, headings (as bold lines),
// bullet and numbered lists, block quotes, fenced and inline code, bold, italic, links, bare http(s) URLs
// and citation markers `[1]` / `[1, 2]`, which become links to the answer's source cards.

const MAX_INLINE_DEPTH = 4;

/** The URL if it is safe to put in an href (http, https, site-relative or #fragment), otherwise null. */
export function safeUrl(raw) {
  const url = String(raw ?? "").trim();
  // Browsers drop tabs/newlines inside URLs ("java\nscript:") and treat "\" like "/" ("/\evil.example").
  if (!url || /[\u0000-\u0020\u007f\\]/.test(url)) return null;
  if (url.startsWith("#")) return url;
  if (url.startsWith("//")) return null; // protocol-relative: another host
  const schemeEnd = url.indexOf(":");
  const pathStart = url.search(/[/?#]/);
  if (schemeEnd !== -1 && (pathStart === -1 || schemeEnd < pathStart)) {
    if (!/^https?:$/i.test(url.slice(0, schemeEnd + 1))) return null;
  }
  let resolved;
  try {
    resolved = new URL(url, document.baseURI);
  } catch {
    return null;
  }
  return resolved.protocol === "http:" || resolved.protocol === "https:" ? url : null;
}

/**
 * Whether an answer may link to `href`: this site's origin, or a host of `hosts` ("docs.example.org", or
 * ".example.org" for it and its subdomains). Anything else is shown as text: a model following an
 * injected instruction could put the conversation into a link's query string, one click from leaving.
 */
export function linkAllowed(href, hosts = []) {
  let resolved;
  try {
    resolved = new URL(href, document.baseURI);
  } catch {
    return false;
  }
  if (resolved.origin === window.location.origin) return true;
  const host = resolved.hostname.toLowerCase();
  return hosts.some((allowed) =>
    allowed.startsWith(".") ? host === allowed.slice(1) || host.endsWith(allowed) : host === allowed,
  );
}

/** The hosts the site allows answer links to (CHATBOT_ANSWER_LINK_HOSTS, on the chat's container). */
export function pageLinkHosts() {
  const root = document.querySelector("[data-chat-root][data-link-hosts]");
  return (root?.dataset.linkHosts || "").split(",").map((h) => h.trim().toLowerCase()).filter(Boolean);
}

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

// --- Inline ---------------------------------------------------------------------------------------

const CODE_SPAN = /^(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/;
const IMAGE = /^!\[([^\]\n]*)\]\(((?:[^()\n]|\([^()\n]*\))*)\)/;
// The URL may hold one level of balanced parentheses (Wikipedia-style links).
const LINK = /^\[([^\]\n]+)\]\(\s*<?((?:[^()\s<>]|\([^()\s<>]*\))*)>?(?:\s+"[^"\n]*")?\s*\)/;
const CITATION = /^\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\](?!\()/;
const AUTOLINK = /^<(https?:\/\/[^>\s]+)>/;
const BARE_URL = /^https?:\/\/[^\s<>"]*[^\s<>".,:;!?'")\]]/;
const ESCAPE = /^\\([\\`*_{}[\]()#+\-.!>~|])/;
const STRONG = /^(\*\*|__)(?=\S)([\s\S]*?\S)\1/;
const EMPHASIS = /^(\*|_)(?=[^\s*_])([\s\S]*?[^\s\\])\1(?![*_])/;
// Characters where an inline construct can start; everything else is plain text.
const SPECIAL = /[`!\[<\\*_h]/;

function appendText(parent, text) {
  if (!text) return;
  const last = parent.lastChild;
  if (last && last.nodeType === Node.TEXT_NODE) last.textContent += text;
  else parent.appendChild(document.createTextNode(text));
}

function appendLink(parent, href, label, options, depth) {
  const link = el("a");
  link.setAttribute("href", href);
  if (/^https?:/i.test(href)) {
    link.setAttribute("rel", "noopener noreferrer nofollow");
    link.setAttribute("target", "_blank");
  }
  renderInline(link, label, { ...options, inLink: true }, depth + 1);
  parent.appendChild(link);
}

function appendCitations(parent, numbers, options) {
  numbers.forEach((number, index) => {
    const href = options.citationHref ? options.citationHref(number) : null;
    if (index) appendText(parent, " ");
    if (!href || options.inLink) {
      appendText(parent, `[${number}]`);
      return;
    }
    const link = el("a", "chat-cite");
    link.setAttribute("href", href);
    link.dataset.citation = String(number);
    link.setAttribute("aria-label", `Source ${number}`);
    link.textContent = `[${number}]`;
    parent.appendChild(link);
  });
}

/** Renders inline Markdown of `text` into `parent`. */
export function renderInline(parent, text, options = {}, depth = 0) {
  let i = 0;
  let plain = "";
  const flush = () => {
    appendText(parent, plain);
    plain = "";
  };
  while (i < text.length) {
    const rest = text.slice(i);
    const ch = rest[0];
    if (!SPECIAL.test(ch)) {
      const next = rest.slice(1).search(SPECIAL);
      const take = next === -1 ? rest.length : next + 1;
      plain += rest.slice(0, take);
      i += take;
      continue;
    }
    let m;
    if ((m = ESCAPE.exec(rest))) {
      plain += m[1];
      i += m[0].length;
      continue;
    }
    if ((m = CODE_SPAN.exec(rest))) {
      flush();
      const code = el("code");
      code.textContent = m[2].replace(/^ (.*) $/, "$1");
      parent.appendChild(code);
      i += m[0].length;
      continue;
    }
    if ((m = IMAGE.exec(rest))) {
      plain += m[0]; // never load images: show the Markdown as written
      i += m[0].length;
      continue;
    }
    if (depth < MAX_INLINE_DEPTH && !options.inLink && (m = LINK.exec(rest))) {
      flush();
      const href = safeUrl(m[2]);
      if (href && linkAllowed(href, options.linkHosts)) appendLink(parent, href, m[1], options, depth);
      else renderInline(parent, m[1], options, depth + 1);
      i += m[0].length;
      continue;
    }
    if ((m = CITATION.exec(rest))) {
      flush();
      appendCitations(
        parent,
        m[1].split(",").map((n) => Number.parseInt(n.trim(), 10)),
        options,
      );
      i += m[0].length;
      continue;
    }
    if (!options.inLink && ((m = AUTOLINK.exec(rest)) || (ch === "h" && (m = BARE_URL.exec(rest))))) {
      const url = m[1] ?? m[0];
      const href = safeUrl(url);
      if (href && !linkAllowed(href, options.linkHosts)) {
        plain += m[0]; // another site: the address as text, never a link
        i += m[0].length;
        continue;
      }
      if (href && (ch !== "h" || !/\w$/.test(plain))) {
        flush();
        const link = el("a");
        link.setAttribute("href", href);
        link.setAttribute("rel", "noopener noreferrer nofollow");
        link.setAttribute("target", "_blank");
        link.textContent = url;
        parent.appendChild(link);
        i += m[0].length;
        continue;
      }
    }
    if (depth < MAX_INLINE_DEPTH && (ch === "*" || ch === "_")) {
      // "_" inside a word (snake_case) is not emphasis.
      const intraword = ch === "_" && /\w$/.test(plain || (i > 0 ? text[i - 1] : ""));
      if (!intraword && ((m = STRONG.exec(rest)) || (m = EMPHASIS.exec(rest)))) {
        flush();
        const node = el(m[1].length === 2 ? "strong" : "em");
        renderInline(node, m[2], options, depth + 1);
        parent.appendChild(node);
        i += m[0].length;
        continue;
      }
    }
    plain += ch;
    i += 1;
  }
  flush();
}

// --- Blocks ---------------------------------------------------------------------------------------

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const BULLET = /^\s{0,6}([-*+])\s+(.*)$/;
const ORDERED = /^\s{0,6}(\d{1,9})[.)]\s+(.*)$/;

function isBlockStart(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    BULLET.test(line) || ORDERED.test(line);
}

function renderLines(parent, lines, options) {
  for (const [index, line] of lines.entries()) {
    if (index) parent.appendChild(el("br"));
    renderInline(parent, line.trim(), options);
  }
}

function renderList(parent, lines, start, options) {
  const ordered = !BULLET.test(lines[start]);
  const pattern = ordered ? ORDERED : BULLET;
  const list = el(ordered ? "ol" : "ul");
  if (ordered) {
    const first = Number.parseInt(ORDERED.exec(lines[start])[1], 10);
    if (first !== 1) list.setAttribute("start", String(first));
  }
  let i = start;
  while (i < lines.length) {
    const m = pattern.exec(lines[i]);
    if (!m) break;
    const itemLines = [m[2]];
    i += 1;
    // Continuation lines: indented text that is not a new item of this list.
    while (i < lines.length && lines[i].trim() && !pattern.test(lines[i]) && /^\s+/.test(lines[i])) {
      itemLines.push(lines[i]);
      i += 1;
    }
    const item = el("li");
    renderLines(item, itemLines, options);
    list.appendChild(item);
    // A blank line between items keeps the list going.
    if (i + 1 < lines.length && !lines[i]?.trim() && pattern.test(lines[i + 1])) i += 1;
  }
  parent.appendChild(list);
  return i;
}

function renderBlocks(parent, lines, options, depth) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    let m;
    if ((m = FENCE.exec(line))) {
      const fence = m[1];
      const body = [];
      i += 1;
      // An unclosed fence (still streaming) runs to the end.
      while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
      i += 1;
      const pre = el("pre", "chat-code");
      const code = el("code");
      if (m[2]) code.dataset.language = m[2];
      code.textContent = body.join("\n");
      pre.appendChild(code);
      parent.appendChild(pre);
      continue;
    }
    if ((m = HEADING.exec(line))) {
      const heading = el("p", "chat-md-heading");
      const strong = el("strong");
      renderInline(strong, m[2], options);
      heading.appendChild(strong);
      parent.appendChild(heading);
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      parent.appendChild(el("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line) && depth < 3) {
      const quoted = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        quoted.push(m[1]);
        i += 1;
      }
      const quote = el("blockquote");
      renderBlocks(quote, quoted, options, depth + 1);
      parent.appendChild(quote);
      continue;
    }
    if (BULLET.test(line) || ORDERED.test(line)) {
      i = renderList(parent, lines, i, options);
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() && (!paragraph.length || !isBlockStart(lines[i]))) {
      paragraph.push(lines[i]);
      i += 1;
    }
    const p = el("p");
    renderLines(p, paragraph, options);
    parent.appendChild(p);
  }
}

/**
 * Renders Markdown `text` as a DocumentFragment.
 * options.citationHref(number) -> href string or null (null renders the marker as text).
 * options.linkHosts: hosts links may go to besides this site (default: the page's data-link-hosts).
 */
export function renderMarkdown(text, options = {}) {
  options = { ...options, linkHosts: options.linkHosts ?? pageLinkHosts() };
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  renderBlocks(fragment, lines, options, 0);
  return fragment;
}
