// One conversation: the message log, the composer and the answer stream. Used by the chat page and the
// widget alike (same module, different container).

import { ApiError } from "./api.js";
import { AnswerView, noticeMessage, userMessage } from "./messages.js";
import { sseEvents } from "./sse.js";

// Failures worth asking again after a moment (the answer was saved as an error).
const RETRYABLE = new Set(["search_unavailable", "llm_unavailable", "internal_error", "rate_limiter_unavailable"]);
// No byte (not even a heartbeat) for this long means the connection is gone.
const STALL_MS = 45000;

/** What a scoped decline names: "page", "pages" or "files"; null when the session searches everything. */
function scopeKind(scope) {
  if (!scope || !scope.length) return null;
  if (scope.some((key) => key.startsWith("document:"))) return "files";
  return scope.length === 1 ? "page" : "pages";
}

/** Resolves when `signal` aborts. */
function untilAborted(signal) {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", resolve, { once: true });
  });
}

function plainText(markdown) {
  return markdown.replace(/\[(\d+(?:,\s*\d+)*)\]/g, "").replace(/[*_`#>]/g, "").trim();
}

export class Conversation {
  /**
   * root: element containing the [data-role] parts of chatbot/_conversation.html.
   * options: {api, prefix, loginUrl, newSession(): {scope, title}, onSessionCreated(session), onAnswered(id),
   *           scope(): the current session's scope, onScopeCleared(session)}
   */
  constructor(root, options) {
    this.root = root;
    this.api = options.api;
    this.prefix = options.prefix;
    this.loginUrl = options.loginUrl;
    this.newSession = options.newSession ?? (() => ({ scope: [], title: "" }));
    this.onSessionCreated = options.onSessionCreated ?? (() => {});
    this.onAnswered = options.onAnswered ?? (() => {});
    this.scope = options.scope ?? (() => []);
    this.onScopeCleared = options.onScopeCleared ?? (() => {});
    this.sessionId = null;
    this.loading = null; // the history being loaded (`load`)
    this.controller = null;
    this.retryTimer = null;
    const part = (role) => root.querySelector(`[data-role="${role}"]`);
    this.log = part("log");
    this.empty = part("empty");
    this.announcer = part("announcer");
    this.notice = part("notice");
    this.form = part("composer");
    this.input = part("input");
    this.sendButton = part("send");
    this.stopButton = part("stop");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.stopButton.addEventListener("click", () => this.stop());
    // The log comes before the composer, so Tab from the question box would leave the chat instead of reaching
    // the answer just read: after Send (or Stop), Tab goes to the last answer's actions; from there Tab
    // reaches the question box again (the next control in the page's order) and Shift+Tab leads out.
    this.form.querySelector(".chat-composer__actions").addEventListener("keydown", (event) => {
      if (event.key !== "Tab" || event.shiftKey) return;
      const actions = [...this.log.querySelectorAll(".chat-message--assistant .chat-actions")].pop();
      const first = actions?.querySelector("button");
      if (!first) return;
      event.preventDefault();
      first.focus();
    });
  }

  get busy() {
    return this.controller !== null;
  }

  focus() {
    this.input.focus();
  }

  announce(text) {
    // Cleared first so the same text twice is announced twice.
    this.announcer.textContent = "";
    window.setTimeout(() => {
      this.announcer.textContent = text;
    }, 50);
  }

  showNotice(text) {
    this.notice.textContent = text;
    this.notice.hidden = !text;
  }

  reset() {
    this.stop();
    this.sessionId = null;
    this.clearLog();
    this.showNotice("");
  }

  clearLog() {
    this.log.replaceChildren(this.empty);
    this.empty.hidden = false;
  }

  append(node) {
    this.empty.hidden = true;
    this.log.appendChild(node);
    this.scrollToEnd();
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** Shows a saved session's messages; false when it no longer exists. */
  load(sessionId) {
    // A question asked while the history loads is kept, shown after it, and sent once it has loaded
    // (`ask` waits for `loading`), so the history never holds it twice. Before, the loaded history
    // replaced the log and took the question and its streaming answer with it: on a busy machine the
    // answer then never appeared (tests/browser/test_chat_page.py, the held messages request).
    const loading = this.loadHistory(sessionId).finally(() => {
      if (this.loading === loading) this.loading = null;
    });
    this.loading = loading;
    return loading;
  }

  async loadHistory(sessionId) {
    this.stop();
    this.sessionId = sessionId;
    this.showNotice("");
    this.clearLog();
    let messages;
    try {
      messages = await this.api.messages(sessionId);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        if (this.sessionId === sessionId) this.sessionId = null;
        return false;
      }
      this.showNotice(`Could not load this chat: ${error.message}`);
      return true;
    }
    if (this.sessionId !== sessionId) return true; // another session was opened meanwhile
    const history = document.createDocumentFragment();
    let question = "";
    for (const message of messages) {
      if (message.role === "user") {
        question = message.content;
        history.appendChild(userMessage(message.content));
        continue;
      }
      const answer = new AnswerView({ prefix: this.prefix, api: this.api });
      history.appendChild(answer.element);
      answer.finish({
        content: message.content,
        sources: message.sources,
        status: message.status,
        declined: message.declined,
        related: message.related,
        quoted: message.quoted,
        messageId: message.uuid,
        error: message.error,
        feedback: message.feedback,
        ...this.declineOptions(question),
      });
    }
    if (messages.length) this.empty.hidden = true;
    // Before anything asked meanwhile: the empty-state node is the log's first child.
    this.log.insertBefore(history, this.empty.nextSibling);
    this.scrollToEnd();
    return true;
  }

  submit() {
    const question = this.input.value.trim();
    if (!question || this.busy) return;
    if (this.retryTimer) {
      this.input.focus();
      return; // rate limited: the notice says when
    }
    this.input.value = "";
    this.ask(question);
  }

  stop() {
    if (this.controller) this.controller.abort();
  }

  setBusy(busy) {
    const focused = document.activeElement;
    this.sendButton.hidden = busy;
    this.stopButton.hidden = !busy;
    this.root.classList.toggle("is-busy", busy);
    // A hidden button drops focus to <body>: put it back where the user types.
    if (focused === document.body || focused === this.sendButton || focused === this.stopButton) {
      this.input.focus({ preventScroll: true });
    }
  }

  async ensureSession() {
    if (this.sessionId) return this.sessionId;
    const session = await this.api.sessionCreate(this.newSession());
    this.sessionId = session.uuid;
    this.onSessionCreated(session);
    return this.sessionId;
  }

  async ask(question) {
    this.showNotice("");
    const questionNode = userMessage(question);
    this.append(questionNode);
    const answer = new AnswerView({ prefix: this.prefix, api: this.api });
    answer.setStreaming(true);
    answer.render();
    this.append(answer.element);
    const controller = new AbortController();
    this.controller = controller;
    this.setBusy(true);
    let outcome = "lost";
    try {
      // Stop works while it waits: the history request has no timeout of its own.
      if (this.loading) await Promise.race([this.loading, untilAborted(controller.signal)]);
      if (controller.signal.aborted) throw new DOMException("Stopped", "AbortError");
      const sessionId = await this.ensureSession();
      const response = await this.api.stream(sessionId, question, controller.signal);
      outcome = await this.consume(response, answer, controller, { question, questionNode, answer });
    } catch (error) {
      if (controller.signal.aborted) outcome = "stopped";
      else if (error instanceof ApiError) {
        outcome = "refused";
        this.refused(error, { question, questionNode, answer });
      } else outcome = "lost";
    } finally {
      this.controller = null;
      this.setBusy(false);
    }
    if (outcome === "stopped") {
      answer.finish({ status: "partial", messageId: answer.messageId });
      this.announce("Answer stopped.");
    } else if (outcome === "lost") {
      answer.finish({ status: "error", error: "The connection was lost before the answer finished." });
      this.append(noticeMessage({
        text: "Connection lost. Check your network, then try again.",
        actionLabel: "Retry",
        onAction: (button) => this.retry(button.parentElement, { question, questionNode, answer }),
      }));
      this.announce("Connection lost.");
    }
    if (this.sessionId) this.onAnswered(this.sessionId);
  }

  /** Reads the event stream into `answer`; returns "complete", "error", "stopped" or "lost". */
  async consume(response, answer, controller, context) {
    let stall = null;
    const watch = () => {
      window.clearTimeout(stall);
      stall = window.setTimeout(() => controller.abort(new DOMException("stalled", "TimeoutError")), STALL_MS);
    };
    let frame = null;
    const scheduleRender = () => {
      if (frame !== null) return;
      frame = window.requestAnimationFrame(() => {
        frame = null;
        answer.render();
        this.scrollToEnd();
      });
    };
    watch();
    try {
      for await (const { event, data } of sseEvents(response, { onComment: watch })) {
        watch();
        if (event === "token") {
          if (data.message_id) answer.messageId = data.message_id;
          answer.appendToken(data.content ?? "");
          scheduleRender();
        } else if (event === "source") {
          answer.addSource(data);
        } else if (event === "complete") {
          if (frame !== null) window.cancelAnimationFrame(frame);
          answer.finish({
            content: data.content,
            sources: data.sources,
            status: data.status,
            declined: data.declined,
            related: data.related,
            quoted: data.quoted,
            messageId: data.message_id,
            ...this.declineOptions(context.question),
          });
          this.scrollToEnd();
          this.announce(`Answer complete. ${plainText(answer.content)}`);
          return "complete";
        } else if (event === "error") {
          if (frame !== null) window.cancelAnimationFrame(frame);
          if (data.message_id) answer.messageId = data.message_id;
          answer.finish({ status: "error", error: this.errorText(data.code, data.message, data.retry_after) });
          this.streamError(data, { question: context.question, questionNode: null, answer: null });
          return "error";
        }
      }
      return "lost";
    } catch (error) {
      const reason = controller.signal.reason;
      if (controller.signal.aborted && !(reason instanceof DOMException && reason.name === "TimeoutError")) {
        return "stopped";
      }
      return "lost";
    } finally {
      window.clearTimeout(stall);
    }
  }

  /** For a decline in a scoped session: where it looked, and a button that asks again everywhere. */
  declineOptions(question) {
    const kind = scopeKind(this.scope());
    if (!kind || !question) return {};
    return { scopeKind: kind, onSearchAll: (button) => this.searchAll(question, button) };
  }

  /** Clears the session's scope (stored, so later questions search everything too) and asks again. */
  async searchAll(question, button) {
    if (this.busy || !this.sessionId) return;
    button.disabled = true;
    let session;
    try {
      session = await this.api.sessionScope(this.sessionId, []);
    } catch (error) {
      button.disabled = false;
      this.showNotice(`Could not search all knowledge: ${error.message}`);
      return;
    }
    button.hidden = true;
    this.onScopeCleared(session);
    this.input.focus({ preventScroll: true });
    this.ask(question);
  }

  errorText(code, message, retryAfter) {
    if (code === "search_unavailable") {
      return "The knowledge search is unavailable right now, so no answer could be found. Please try again in a minute.";
    }
    if (code === "rate_limited") {
      return `You have asked too many questions in a short time.${retryAfter ? ` You can ask again in ${retryAfter} s.` : ""}`;
    }
    return message || "The answer failed.";
  }

  streamError(data, context) {
    this.announce("The answer failed.");
    if (data.retry_after) {
      this.rateLimited(data.retry_after, context);
      return;
    }
    if (RETRYABLE.has(data.code)) {
      this.append(noticeMessage({
        text: "This can be temporary.",
        actionLabel: "Retry",
        onAction: (button) => this.retry(button.parentElement, context),
      }));
    }
  }

  /** The request was refused before streaming (400, 401, 403, 404, 413, 429, 503). */
  refused(error, context) {
    const { answer } = context;
    answer.element.remove();
    if (error.status === 401 || (error.status === 403 && /csrf|credentials|authenticat/i.test(error.message))) {
      this.append(noticeMessage({ text: "Your sign-in has expired.", actionLabel: "Sign in again", href: this.loginUrl }));
      return;
    }
    if (error.status === 404 && this.sessionId) {
      this.sessionId = null; // the session was deleted elsewhere: the retry starts a new one
    }
    const text = this.errorText(error.code, error.message, error.retryAfter);
    if (error.status === 429) {
      this.rateLimited(error.retryAfter ?? 30, context);
      return;
    }
    const retryable = error.status === 0 || error.status >= 500 || error.status === 404;
    this.append(noticeMessage({
      text,
      actionLabel: retryable ? "Retry" : undefined,
      onAction: (button) => this.retry(button.parentElement, context),
    }));
    this.announce(text);
  }

  rateLimited(seconds, context = null) {
    window.clearInterval(this.retryTimer);
    let left = Math.max(1, Math.ceil(seconds));
    const notice = noticeMessage({
      text: "",
      actionLabel: context ? "Retry" : undefined,
      onAction: (button) => this.retry(button.parentElement, context),
    });
    notice.classList.add("chat-message--rate-limited");
    const text = notice.querySelector("p");
    const button = notice.querySelector("button");
    const update = () => {
      text.textContent = left > 0
        ? `You have asked too many questions in a short time. You can ask again in ${left} s.`
        : "You can ask again now.";
      if (button) button.disabled = left > 0;
    };
    update();
    this.append(notice);
    this.announce(`Too many questions. Try again in ${left} seconds.`);
    this.retryTimer = window.setInterval(() => {
      left -= 1;
      update();
      if (left <= 0) {
        window.clearInterval(this.retryTimer);
        this.retryTimer = null;
      }
    }, 1000);
  }

  retry(noticeNode, { question, questionNode, answer }) {
    noticeNode?.remove();
    questionNode?.remove();
    answer?.element.remove();
    this.ask(question);
  }
}
