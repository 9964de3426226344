/**
 * Reads a Server-Sent Events body (the streaming form of OpenAI's Chat Completions and of Workers AI's text
 * generation) into the `data` of each event. Lines are split on LF, CRLF or CR; multi-line data is joined with LF;
 * comments (`:`) and other fields are skipped. Both providers end with `data: [DONE]`, which is yielded like any
 * other data: the caller decides what it means.
 */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline: RegExpExecArray | null;
      while ((newline = /\r\n|\r|\n/.exec(buffer)) !== null) {
        // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
        if (newline[0] === "\r" && newline.index === buffer.length - 1) break;
        const line = buffer.slice(0, newline.index);
        buffer = buffer.slice(newline.index + newline[0].length);
        if (line === "") {
          if (data.length > 0) yield data.join("\n");
          data = [];
        } else if (line.startsWith("data:")) {
          data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
        }
      }
    }
    if (buffer.startsWith("data:")) data.push(buffer.slice(buffer.startsWith("data: ") ? 6 : 5));
    if (data.length > 0) yield data.join("\n");
  } finally {
    reader.releaseLock();
  }
}
