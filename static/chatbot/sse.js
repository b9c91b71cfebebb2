// Reads a text/event-stream body from fetch() (EventSource cannot POST).

/**
 * Yields {id, event, data} for each event of `response`'s body; `data` is parsed JSON (or the raw text
 * when it is not JSON). Comments (heartbeats) call `onComment`. The stream ends when the body ends.
 */
export async function* sseEvents(response, { onComment } = {}) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = { id: null, event: "message", data: [] };
  try {
    while (true) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value ?? new Uint8Array(), { stream: !done });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) !== -1) {
        // A "\r" at the end may be the first half of "\r\n": wait for the next chunk.
        if (!done && newline === buffer.length - 1 && buffer.endsWith("\r")) break;
        const line = buffer.slice(0, newline);
        const width = buffer.startsWith("\r\n", newline) ? 2 : 1;
        buffer = buffer.slice(newline + width);
        if (line === "") {
          if (event.data.length) {
            const text = event.data.join("\n");
            let data = text;
            try {
              data = JSON.parse(text);
            } catch {
              data = text;
            }
            yield { id: event.id, event: event.event, data };
          }
          event = { id: event.id, event: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) {
          onComment?.(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") event.data.push(value);
        else if (field === "event") event.event = value;
        else if (field === "id") event.id = value;
      }
      if (done) return;
    }
  } finally {
    // Stops the download when the consumer leaves early; a no-op once the body has ended.
    reader.cancel().catch(() => {});
  }
}
