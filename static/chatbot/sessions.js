// The chat page's list of sessions: open, new chat, rename and delete.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString([], { day: "numeric", month: "short" });
}

export class SessionList {
  /** options: {api, onSelect(id), onNew(), onDeleted(id), onChanged(session)} */
  constructor(root, options) {
    this.options = options;
    this.api = options.api;
    this.sessions = [];
    this.current = null;
    this.list = root.querySelector('[data-role="session-list"]');
    this.title = root.querySelector('[data-role="title"]');
    this.renameButton = root.querySelector('[data-role="rename"]');
    this.deleteButton = root.querySelector('[data-role="delete"]');
    this.exportLink = root.querySelector('[data-role="export"]');
    root.querySelector('[data-role="new-chat"]').addEventListener("click", () => options.onNew());
    this.renameButton.addEventListener("click", () => this.startRename());
    this.deleteButton.addEventListener("click", () => this.deleteCurrent());
    this.armed = null;
  }

  get(id) {
    return this.sessions.find((session) => session.uuid === id) ?? null;
  }

  async load() {
    try {
      this.sessions = await this.api.sessions();
    } catch (error) {
      this.sessions = [];
      this.list.replaceChildren(el("li", "chat-session-list__empty", `Could not load your chats: ${error.message}`));
      return;
    }
    this.render();
  }

  async refresh() {
    try {
      this.sessions = await this.api.sessions();
    } catch {
      return; // keep the list we have
    }
    this.render();
    const current = this.get(this.current);
    if (current) this.options.onChanged(current);
  }

  add(session) {
    this.sessions = [session, ...this.sessions.filter((s) => s.uuid !== session.uuid)];
    this.render();
  }

  remove(id) {
    this.sessions = this.sessions.filter((s) => s.uuid !== id);
    this.render();
  }

  setCurrent(id) {
    this.current = id;
    this.renameButton.disabled = !id;
    this.deleteButton.disabled = !id;
    if (this.exportLink) {
      this.exportLink.hidden = !id;
      if (id) this.exportLink.href = this.api.sessionExportUrl(id);
      else this.exportLink.removeAttribute("href");
    }
    this.disarm();
    this.render();
  }

  render() {
    const items = this.sessions.map((session) => {
      const item = el("li", "chat-session-list__item");
      const button = el("button", "chat-session");
      button.type = "button";
      button.dataset.sessionId = session.uuid;
      if (session.uuid === this.current) button.setAttribute("aria-current", "true");
      button.appendChild(el("span", "chat-session__title", session.title || "Untitled chat"));
      const meta = [when(session.updated_at)];
      if (session.scope?.length) meta.push("scoped");
      button.appendChild(el("span", "chat-session__meta", meta.filter(Boolean).join(" · ")));
      button.addEventListener("click", () => this.options.onSelect(session.uuid));
      item.appendChild(button);
      return item;
    });
    if (!items.length) items.push(el("li", "chat-session-list__empty", "No chats yet."));
    this.list.replaceChildren(...items);
  }

  startRename() {
    const session = this.get(this.current);
    if (!session || this.title.hidden) return;
    const form = el("form", "chat-rename");
    const label = el("label", "visually-hidden", "Chat title");
    const input = el("input");
    input.id = "chat-rename-input";
    label.htmlFor = input.id;
    input.value = session.title || "";
    input.maxLength = 200;
    input.required = true;
    const save = el("button", "chat-button chat-button--primary", "Save");
    save.type = "submit";
    const cancel = el("button", "chat-button", "Cancel");
    cancel.type = "button";
    form.append(label, input, save, cancel);
    const finish = () => {
      form.remove();
      this.title.hidden = false;
      this.renameButton.focus();
    };
    cancel.addEventListener("click", finish);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        finish();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const title = input.value.trim();
      if (!title) return;
      save.disabled = true;
      try {
        const updated = await this.api.sessionRename(session.uuid, title);
        Object.assign(session, updated);
        this.render();
        this.options.onChanged(session);
        finish();
      } catch (error) {
        save.disabled = false;
        input.setCustomValidity(error.message);
        input.reportValidity();
      }
    });
    this.title.hidden = true;
    this.title.after(form);
    input.focus();
    input.select();
  }

  disarm() {
    if (this.armed) window.clearTimeout(this.armed);
    this.armed = null;
    this.deleteButton.textContent = "Delete";
  }

  async deleteCurrent() {
    const id = this.current;
    if (!id) return;
    if (!this.armed) {
      // Two clicks instead of confirm(): no blocking dialog, and the second click is deliberate.
      this.deleteButton.textContent = "Confirm delete";
      this.armed = window.setTimeout(() => this.disarm(), 4000);
      return;
    }
    this.disarm();
    this.deleteButton.disabled = true;
    try {
      await this.api.sessionDelete(id);
      this.remove(id);
      this.options.onDeleted(id);
    } catch (error) {
      this.deleteButton.disabled = false;
      this.deleteButton.title = error.message;
    }
  }
}
