// The chatbot REST + SSE API (mounted at data-api-root), with Django's session auth and CSRF header.

export class ApiError extends Error {
  constructor({ status, code, message, retryAfter = null, fields = null }) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.fields = fields;
  }
}

function cookie(name) {
  const match = document.cookie.split("; ").find((part) => part.startsWith(`${name}=`));
  return match ? decodeURIComponent(match.slice(name.length + 1)) : "";
}

function retryAfterSeconds(headerValue, bodyValue) {
  if (Number.isFinite(bodyValue) && bodyValue > 0) return Math.ceil(bodyValue);
  if (!headerValue) return null;
  const seconds = Number(headerValue);
  if (Number.isFinite(seconds)) return Math.max(1, Math.ceil(seconds));
  const date = Date.parse(headerValue);
  return Number.isNaN(date) ? null : Math.max(1, Math.ceil((date - Date.now()) / 1000));
}

const STATUS_MESSAGES = {
  401: "You are signed out. Sign in again to continue.",
  403: "You are not allowed to do this (or your sign-in expired). Reload the page and try again.",
  404: "Not found: it may have been deleted.",
  413: "That is too large.",
  429: "Too many requests.",
  502: "The answer service failed.",
  503: "The service is unavailable right now.",
};

/** An ApiError from a failed response: `{"error": {"code", "message", "retry_after"}}` bodies. */
export async function errorFromResponse(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const detail = body?.error ?? {};
  return new ApiError({
    status: response.status,
    code: detail.code || (response.status === 429 ? "rate_limited" : `http_${response.status}`),
    message: detail.message || body?.detail || STATUS_MESSAGES[response.status] || `Request failed (${response.status}).`,
    retryAfter: retryAfterSeconds(response.headers.get("Retry-After"), detail.retry_after),
    fields: detail.fields ?? null,
  });
}

export class ChatApi {
  constructor({ root, csrfToken }) {
    this.root = root.endsWith("/") ? root : `${root}/`;
    this.csrfToken = csrfToken;
  }

  url(path) {
    return `${this.root}${path}`;
  }

  /** A session as a Markdown file with its citations (`json`: the JSON export). */
  sessionExportUrl(id, format = "md") {
    return this.url(`sessions/${encodeURIComponent(id)}/export/?export_format=${format}`);
  }

  headers(extra = {}) {
    return {
      Accept: "application/json",
      "X-CSRFToken": cookie("csrftoken") || this.csrfToken,
      "X-Requested-With": "XMLHttpRequest",
      ...extra,
    };
  }

  async request(method, path, body = undefined) {
    let response;
    try {
      response = await fetch(this.url(path), {
        method,
        credentials: "same-origin",
        headers: this.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError({ status: 0, code: "network", message: "Could not reach the server. Check your connection." });
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (response.status === 204) return null;
    return response.json();
  }

  /** All items of a list endpoint, following DRF page numbers (bounded). */
  async list(path) {
    const items = [];
    let next = path;
    for (let page = 0; next && page < 20; page += 1) {
      const data = await this.request("GET", next);
      if (Array.isArray(data)) return data;
      items.push(...(data.results ?? []));
      next = data.next ? data.next.slice(data.next.indexOf(this.root) + this.root.length) : null;
    }
    return items;
  }

  sessions() {
    return this.list("sessions/");
  }

  sessionCreate({ title = "", scope = [], settings = null } = {}) {
    return this.request("POST", "sessions/", settings ? { title, scope, settings } : { title, scope });
  }

  sessionGet(id) {
    return this.request("GET", `sessions/${encodeURIComponent(id)}/`);
  }

  sessionRename(id, title) {
    return this.request("PATCH", `sessions/${encodeURIComponent(id)}/`, { title });
  }

  /** Sets the session's scope (source keys; [] is everything the user may see). */
  sessionScope(id, scope) {
    return this.request("PATCH", `sessions/${encodeURIComponent(id)}/`, { scope });
  }

  sessionDelete(id) {
    return this.request("DELETE", `sessions/${encodeURIComponent(id)}/`);
  }

  messages(id) {
    return this.list(`sessions/${encodeURIComponent(id)}/messages/`);
  }

  /** Starts an answer stream; resolves to the streaming Response, throws ApiError on a refusal. */
  async stream(id, question, signal) {
    const response = await fetch(this.url(`sessions/${encodeURIComponent(id)}/messages/stream/`), {
      method: "POST",
      credentials: "same-origin",
      headers: this.headers({ Accept: "text/event-stream", "Content-Type": "application/json" }),
      body: JSON.stringify({ content: question }),
      signal,
    });
    if (!response.ok) throw await errorFromResponse(response);
    if (!response.body) {
      throw new ApiError({ status: 0, code: "no_stream", message: "This browser cannot read streamed answers." });
    }
    return response;
  }

  feedback(messageId, { rating, comment = "" }) {
    return this.request("POST", `messages/${encodeURIComponent(messageId)}/feedback/`, { rating, comment });
  }

  documents() {
    return this.list("documents/");
  }

  documentStatus(id) {
    return this.request("GET", `documents/${encodeURIComponent(id)}/status/`);
  }

  documentDelete(id) {
    return this.request("DELETE", `documents/${encodeURIComponent(id)}/`);
  }

  /** Uploads a file with progress (fetch has no upload progress, XMLHttpRequest does). */
  documentUpload(file, { onProgress } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.url("documents/"));
      xhr.withCredentials = true;
      const headers = this.headers();
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(body);
          return;
        }
        const detail = body?.error ?? {};
        reject(new ApiError({
          status: xhr.status,
          code: detail.code || `http_${xhr.status}`,
          message: detail.message || STATUS_MESSAGES[xhr.status] || `Upload failed (${xhr.status}).`,
          retryAfter: retryAfterSeconds(xhr.getResponseHeader("Retry-After"), detail.retry_after),
        }));
      });
      xhr.addEventListener("error", () =>
        reject(new ApiError({ status: 0, code: "network", message: "The upload was interrupted. Check your connection." })),
      );
      xhr.addEventListener("abort", () => reject(new ApiError({ status: 0, code: "aborted", message: "Upload cancelled." })));
      const form = new FormData();
      form.append("file", file);
      form.append("title", file.name.replace(/\.[^.]+$/, ""));
      xhr.send(form);
    });
  }
}
