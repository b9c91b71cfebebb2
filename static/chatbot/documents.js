// The user's own documents on the chat page: upload (drag and drop or file input) with progress, a list
// whose processing status refreshes itself until indexed/failed, delete, and "ask about these files".

const FINAL = new Set(["indexed", "failed", "removed"]);
const POLL_MS = 1500;
const STATUS_LABELS = {
  not_queued: "Waiting",
  queued: "Queued",
  processing: "Processing",
  indexed: "Indexed",
  failed: "Failed",
  removed: "Removed",
  superseded: "Processing",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatSize(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

export class DocumentsPanel {
  /** options: {api, maxBytes, extensions: string[], onAsk(documents)} */
  constructor(root, options) {
    this.api = options.api;
    this.maxBytes = options.maxBytes;
    this.extensions = options.extensions;
    this.onAsk = options.onAsk;
    this.documents = new Map(); // id -> {document, status}
    this.selected = new Set();
    this.pollTimer = null;
    const part = (role) => root.querySelector(`[data-role="${role}"]`);
    this.dropzone = part("dropzone");
    this.fileInput = part("file-input");
    this.uploads = part("uploads");
    this.list = part("document-list");
    this.askButton = part("ask-documents");
    this.fileInput.addEventListener("change", () => {
      this.uploadFiles([...this.fileInput.files]);
      this.fileInput.value = "";
    });
    for (const type of ["dragenter", "dragover"]) {
      this.dropzone.addEventListener(type, (event) => {
        event.preventDefault();
        this.dropzone.classList.add("is-dragging");
      });
    }
    for (const type of ["dragleave", "drop"]) {
      this.dropzone.addEventListener(type, () => this.dropzone.classList.remove("is-dragging"));
    }
    this.dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      this.uploadFiles([...(event.dataTransfer?.files ?? [])]);
    });
    this.askButton.addEventListener("click", () => {
      const chosen = [...this.selected].map((id) => this.documents.get(id)?.document).filter(Boolean);
      if (chosen.length) this.onAsk(chosen);
    });
  }

  async load() {
    try {
      const documents = await this.api.documents();
      this.documents.clear();
      for (const document of documents) this.documents.set(document.id, { document, status: null });
      this.render();
      await this.refreshStatuses();
    } catch (error) {
      this.list.replaceChildren(el("li", "chat-document chat-document--error", `Could not load your documents: ${error.message}`));
    }
  }

  /** Why a file cannot be sent, or "" when it may. */
  check(file) {
    const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
    if (!this.extensions.includes(extension)) {
      return `${file.name}: only ${this.extensions.map((e) => e.toUpperCase()).join(", ")} files can be uploaded.`;
    }
    if (file.size > this.maxBytes) {
      return `${file.name} is ${formatSize(file.size)}; the limit is ${formatSize(this.maxBytes)}.`;
    }
    if (file.size === 0) return `${file.name} is empty.`;
    return "";
  }

  uploadFiles(files) {
    for (const file of files) this.upload(file);
  }

  async upload(file) {
    const row = el("li", "chat-upload");
    const name = el("span", "chat-upload__name", file.name);
    row.appendChild(name);
    this.uploads.appendChild(row);
    const problem = this.check(file);
    if (problem) {
      row.classList.add("chat-upload--error");
      row.setAttribute("role", "alert");
      row.appendChild(el("span", "chat-upload__error", problem));
      row.appendChild(this.dismissButton(row));
      return;
    }
    const progress = el("progress", "chat-upload__progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", `Uploading ${file.name}`);
    row.appendChild(progress);
    try {
      const document = await this.api.documentUpload(file, {
        onProgress: (share) => {
          progress.value = Math.round(share * 100);
        },
      });
      row.remove();
      this.documents.set(document.id, { document, status: { status: "queued" } });
      this.render();
      this.schedulePoll();
    } catch (error) {
      progress.remove();
      row.classList.add("chat-upload--error");
      row.setAttribute("role", "alert");
      row.appendChild(el("span", "chat-upload__error", error.message));
      row.appendChild(this.dismissButton(row));
    }
  }

  dismissButton(row) {
    const button = el("button", "chat-icon-button", "×");
    button.type = "button";
    button.setAttribute("aria-label", "Dismiss");
    button.addEventListener("click", () => row.remove());
    return button;
  }

  statusOf(entry) {
    return entry.status?.status ?? "not_queued";
  }

  async refreshStatuses() {
    const pending = [...this.documents.entries()].filter(([, entry]) => !FINAL.has(this.statusOf(entry)) || !entry.status);
    await Promise.all(pending.map(async ([id, entry]) => {
      try {
        entry.status = await this.api.documentStatus(id);
      } catch (error) {
        if (error.status === 404) this.documents.delete(id);
      }
    }));
    this.render();
    this.schedulePoll();
  }

  schedulePoll() {
    window.clearTimeout(this.pollTimer);
    const waiting = [...this.documents.values()].some((entry) => !FINAL.has(this.statusOf(entry)));
    if (waiting) this.pollTimer = window.setTimeout(() => this.refreshStatuses(), POLL_MS);
  }

  render() {
    const rows = [...this.documents.values()]
      .sort((a, b) => String(b.document.created_at).localeCompare(String(a.document.created_at)))
      .map((entry) => this.row(entry));
    if (!rows.length) rows.push(el("li", "chat-document chat-document--empty", "No documents yet."));
    this.list.replaceChildren(...rows);
    for (const id of [...this.selected]) if (!this.documents.has(id)) this.selected.delete(id);
    this.askButton.disabled = this.selected.size === 0;
  }

  row({ document, status }) {
    const state = this.statusOf({ status });
    const row = el("li", "chat-document");
    row.dataset.documentId = String(document.id);
    row.dataset.status = state;
    const checkboxId = `chat-document-${document.id}`;
    const checkbox = el("input");
    checkbox.type = "checkbox";
    checkbox.id = checkboxId;
    checkbox.checked = this.selected.has(document.id);
    checkbox.disabled = state !== "indexed";
    checkbox.addEventListener("change", () => {
      if (checkbox.checked) this.selected.add(document.id);
      else this.selected.delete(document.id);
      this.askButton.disabled = this.selected.size === 0;
    });
    const label = el("label", "chat-document__title", document.title || document.filename);
    label.htmlFor = checkboxId;
    const badge = el("span", `chat-badge chat-badge--${state}`, STATUS_LABELS[state] ?? state);
    badge.dataset.role = "document-status";
    const meta = el("span", "chat-document__meta", `${(document.kind || "").toUpperCase()} · ${formatSize(document.file_size || 0)}`);
    const main = el("div", "chat-document__main");
    main.append(checkbox, label);
    const info = el("div", "chat-document__info");
    info.append(badge, meta);
    if (status && state === "processing" && status.progress_total) {
      info.appendChild(el("span", "chat-document__meta", `${status.progress_done}/${status.progress_total}`));
    }
    row.append(main, info);
    if (state === "failed" && status?.error) {
      const error = el("p", "chat-document__error", status.error);
      error.setAttribute("role", "alert");
      row.appendChild(error);
    }
    row.appendChild(this.deleteButton(document));
    return row;
  }

  deleteButton(document) {
    const button = el("button", "chat-link-button chat-link-button--danger", "Delete");
    button.type = "button";
    button.setAttribute("aria-label", `Delete ${document.title || document.filename}`);
    let armed = null;
    button.addEventListener("click", async () => {
      if (!armed) {
        button.textContent = "Confirm delete";
        armed = window.setTimeout(() => {
          armed = null;
          button.textContent = "Delete";
        }, 4000);
        return;
      }
      window.clearTimeout(armed);
      button.disabled = true;
      try {
        await this.api.documentDelete(document.id);
        this.documents.delete(document.id);
        this.selected.delete(document.id);
        this.render();
      } catch (error) {
        button.disabled = false;
        button.textContent = "Delete";
        armed = null;
        button.title = error.message;
      }
    });
    return button;
  }
}
