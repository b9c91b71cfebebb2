// Mounts the chat in every [data-chat-root] container: the full page (/chat/) or the widget.

import { ChatApi } from "./api.js";
import { Conversation } from "./conversation.js";
import { DocumentsPanel } from "./documents.js";
import { SessionList } from "./sessions.js";

function config(root) {
  const data = root.dataset;
  return {
    mode: data.mode,
    apiRoot: data.apiRoot,
    csrfToken: data.csrfToken,
    userKey: data.userKey,
    loginUrl: data.loginUrl,
    pageId: data.pageId ? Number(data.pageId) : null,
    sectionId: data.sectionId ? Number(data.sectionId) : null,
    uploadMaxBytes: Number(data.uploadMaxBytes || 0),
    uploadExtensions: (data.uploadExtensions || "").split(",").filter(Boolean),
  };
}

// --- The widget -----------------------------------------------------------------------------------

class Widget {
  constructor(root, settings) {
    this.root = root;
    this.settings = settings;
    this.launcher = root.querySelector('[data-role="launcher"]');
    this.panel = root.querySelector('[data-role="panel"]');
    this.closeButton = root.querySelector('[data-role="close"]');
    this.launcher.addEventListener("click", () => (this.panel.hidden ? this.open() : this.close()));
    this.closeButton.addEventListener("click", () => this.close());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      }
    });
    if (!settings.userKey) return; // anonymous: the panel only offers a sign-in link
    this.api = new ChatApi({ root: settings.apiRoot, csrfToken: settings.csrfToken });
    this.scope = settings.pageId ? "page" : "all";
    this.loadedScope = null;
    this.conversation = new Conversation(root.querySelector(".chat-conversation"), {
      api: this.api,
      prefix: "widget",
      loginUrl: settings.loginUrl,
      newSession: () => this.sessionScope(),
      onSessionCreated: (session) => this.remember(session.uuid),
      scope: () => (this.scope === "page" ? [`page:${settings.pageId}`] : []),
      onScopeCleared: (session) => this.scopeCleared(session),
    });
    for (const radio of root.querySelectorAll('[data-role="scope"] input[type="radio"]')) {
      radio.addEventListener("change", () => {
        if (!radio.checked) return;
        this.scope = radio.value;
        this.restore();
      });
    }
    root.querySelector('[data-role="new-chat"]').addEventListener("click", () => {
      this.forget();
      this.conversation.reset();
      this.conversation.focus();
    });
    if (sessionStorage.getItem(this.openKey) === "1") this.open({ focus: false });
  }

  /** A new session's scope: this page, this page's section (a filter: the section and the pages under
   * it), or everything the user may see. */
  sessionScope() {
    if (this.scope === "page") return { scope: [`page:${this.settings.pageId}`], title: "" };
    if (this.scope === "section") {
      return { scope: [], title: "", settings: { filters: { section: `page:${this.settings.sectionId}` } } };
    }
    return { scope: [], title: "" };
  }

  get openKey() {
    return `chatbot:widget-open:${this.settings.userKey}`;
  }

  /** Each scope (this page, all knowledge) keeps its own session across page loads. */
  get storageKey() {
    const keys = { page: `page:${this.settings.pageId}`, section: `section:${this.settings.sectionId}` };
    return `chatbot:${this.settings.userKey}:widget:${keys[this.scope] ?? "all"}`;
  }

  remember(sessionId) {
    try {
      localStorage.setItem(this.storageKey, sessionId);
    } catch {
      // storage disabled: the chat still works, it just is not restored after a reload
    }
  }

  forget() {
    try {
      localStorage.removeItem(this.storageKey);
    } catch {
      // see remember()
    }
  }

  /** "Search all knowledge" turned this page's session into an all-knowledge one: file it there. */
  scopeCleared(session) {
    this.forget();
    this.scope = "all";
    this.loadedScope = "all";
    const all = this.root.querySelector('[data-role="scope"] input[value="all"]');
    if (all) all.checked = true;
    this.remember(session.uuid);
  }

  async restore() {
    if (this.loadedScope === this.scope) return;
    this.loadedScope = this.scope;
    let stored = null;
    try {
      stored = localStorage.getItem(this.storageKey);
    } catch {
      stored = null;
    }
    this.conversation.reset();
    if (stored && !(await this.conversation.load(stored))) this.forget();
  }

  open({ focus = true } = {}) {
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.root.classList.add("is-open");
    document.documentElement.classList.add("chat-docked"); // wide screens make room for the panel
    if (this.settings.userKey) {
      sessionStorage.setItem(this.openKey, "1");
      this.restore();
      if (focus) this.conversation.focus();
    } else if (focus) {
      this.panel.querySelector("a")?.focus();
    }
  }

  close() {
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.root.classList.remove("is-open");
    document.documentElement.classList.remove("chat-docked");
    if (this.settings.userKey) sessionStorage.removeItem(this.openKey);
    this.launcher.focus();
  }
}

// --- The chat page --------------------------------------------------------------------------------

class ChatPage {
  constructor(root, settings) {
    this.root = root;
    this.settings = settings;
    this.api = new ChatApi({ root: settings.apiRoot, csrfToken: settings.csrfToken });
    this.pendingScope = [];
    this.pendingTitle = "";
    root.querySelector(".chat-skip-link")?.addEventListener("click", (event) => {
      event.preventDefault(); // focus the box without putting #… in the address
      this.conversation.focus();
    });
    this.title = root.querySelector('[data-role="title"]');
    this.scopeNote = root.querySelector('[data-role="scope-note"]');
    this.conversation = new Conversation(root.querySelector(".chat-conversation"), {
      api: this.api,
      prefix: "page",
      loginUrl: settings.loginUrl,
      newSession: () => ({ scope: this.pendingScope, title: this.pendingTitle }),
      onSessionCreated: (session) => {
        this.sessions.add(session);
        this.select(session.uuid, { load: false });
      },
      onAnswered: () => this.sessions.refresh(),
      scope: () => this.sessions.get(this.conversation.sessionId)?.scope ?? this.pendingScope,
      onScopeCleared: (session) => {
        this.sessions.add(session);
        this.pendingScope = [];
        this.showSession(session);
      },
    });
    this.sessions = new SessionList(root, {
      api: this.api,
      onSelect: (sessionId) => this.select(sessionId),
      onNew: () => this.newChat(),
      onDeleted: (sessionId) => {
        if (this.conversation.sessionId === sessionId) this.newChat();
      },
      onChanged: (session) => {
        if (session.uuid === this.conversation.sessionId) this.showSession(session);
      },
    });
    this.documents = new DocumentsPanel(root, {
      api: this.api,
      maxBytes: settings.uploadMaxBytes,
      extensions: settings.uploadExtensions,
      onAsk: (documents) => this.askAbout(documents),
    });
  }

  async start() {
    const params = new URLSearchParams(window.location.search);
    const question = (params.get("q") ?? "").trim();
    // A question (from the home page's ask box) starts a new chat.
    const requested = question ? null : params.get("session");
    if (params.has("q")) {
      // Asked once: a reload or a bookmark of this address does not ask again.
      const url = new URL(window.location.href);
      url.searchParams.delete("q");
      window.history.replaceState(null, "", url);
    }
    if (!requested) this.newChat({ focus: true }); // usable at once, while the lists load
    if (question) this.conversation.input.value = question; // shown while the lists load
    await Promise.all([this.sessions.load(), this.documents.load()]);
    if (question) {
      // Sent after the session list has loaded, so the new session is added to the list, not lost from it.
      this.conversation.submit();
      return;
    }
    if (!requested) return;
    if (this.sessions.get(requested)) await this.select(requested);
    else this.newChat({ focus: true });
  }

  showSession(session) {
    this.title.textContent = session?.title || "New chat";
    const scope = session?.scope ?? this.pendingScope;
    this.scopeNote.hidden = !scope.length;
    this.scopeNote.textContent = scope.length ? this.describeScope(scope) : "";
    this.sessions.setCurrent(session?.uuid ?? null);
  }

  describeScope(scope) {
    const documents = scope.filter((key) => key.startsWith("document:")).length;
    const pages = scope.filter((key) => key.startsWith("page:")).length;
    const parts = [];
    if (documents) parts.push(`${documents} selected file${documents === 1 ? "" : "s"}`);
    if (pages) parts.push(`${pages} page${pages === 1 ? "" : "s"}`);
    return `Answers only from ${parts.join(" and ")}.`;
  }

  async select(sessionId, { load = true } = {}) {
    const session = this.sessions.get(sessionId);
    this.pendingScope = [];
    this.showSession(session);
    const url = new URL(window.location.href);
    url.searchParams.set("session", sessionId);
    window.history.replaceState(null, "", url);
    if (load && !(await this.conversation.load(sessionId))) {
      this.sessions.remove(sessionId);
      this.newChat();
    }
  }

  newChat({ scope = [], title = "", focus = true } = {}) {
    this.conversation.reset();
    this.pendingScope = scope;
    this.pendingTitle = title;
    this.showSession(null);
    if (title) this.title.textContent = title;
    const url = new URL(window.location.href);
    url.searchParams.delete("session");
    window.history.replaceState(null, "", url);
    if (focus) this.conversation.focus();
  }

  askAbout(documents) {
    const names = documents.map((d) => d.title || d.filename);
    this.newChat({
      scope: documents.map((d) => `document:${d.id}`),
      title: `About ${names.length === 1 ? names[0] : `${names.length} files`}`,
    });
  }
}

for (const root of document.querySelectorAll("[data-chat-root]")) {
  const settings = config(root);
  if (settings.mode === "widget") new Widget(root, settings);
  else new ChatPage(root, settings).start();
}
