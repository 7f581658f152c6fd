/** A Server-Sent Events client for tests: collects frames (and the raw text, comments included) as they arrive. */

export interface SseFrame {
  event?: string;
  id?: string;
  data?: Record<string, unknown>;
  retry?: number;
}

export function parseSseFrame(text: string): SseFrame | undefined {
  const frame: SseFrame = {};
  for (const line of text.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    const [field, ...rest] = line.split(': ');
    const value = rest.join(': ');
    if (field === 'event') frame.event = value;
    else if (field === 'id') frame.id = value;
    else if (field === 'data') frame.data = JSON.parse(value) as Record<string, unknown>;
    else if (field === 'retry') frame.retry = Number(value);
  }
  return Object.keys(frame).length > 0 ? frame : undefined;
}

export interface SseClient {
  response: Response;
  readonly frames: SseFrame[];
  /** Everything received, comment lines included. */
  readonly raw: string;
  /** When each chunk arrived (epoch ms) and what it held. */
  readonly chunks: { at: number; text: string }[];
  /** Resolves when the server ends the stream (or the client closed it). */
  done: Promise<void>;
  close(): void;
}

/** Opens `url` (with `headers`, e.g. Last-Event-ID) and reads it until closed. */
export async function listenSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal, headers });
  const frames: SseFrame[] = [];
  const chunks: { at: number; text: string }[] = [];
  let raw = '';
  const done = (async () => {
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response.body) {
        const text = decoder.decode(chunk as Uint8Array, { stream: true });
        raw += text;
        chunks.push({ at: Date.now(), text });
        buffered += text;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const frame = parseSseFrame(buffered.slice(0, end));
          buffered = buffered.slice(end + 2);
          if (frame) frames.push(frame);
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    response,
    frames,
    get raw() {
      return raw;
    },
    chunks,
    done,
    close: () => controller.abort(),
  };
}

export const statusChanges = (frames: SseFrame[]) => frames.filter((frame) => frame.event === 'status-changed');
