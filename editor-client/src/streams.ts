// Assembles `offpilot/stream` notifications ({token, delta}) into the text of the request that
// owns the token. Pure; the Explain panel listens to one stream.

export interface StreamNotification {
  token: string | number;
  delta: string;
}

export type StreamListener = (text: string, delta: string) => void;

export class TextStream {
  private parts: string[] = [];
  private listeners: StreamListener[] = [];

  constructor(readonly token: string) {}

  get text(): string {
    return this.parts.join('');
  }

  append(delta: string): void {
    this.parts.push(delta);
    const text = this.text;
    for (const listener of this.listeners) {
      listener(text, delta);
    }
  }

  onDelta(listener: StreamListener): void {
    this.listeners.push(listener);
  }
}

export class StreamRouter {
  private readonly streams = new Map<string, TextStream>();
  /** Deltas for tokens nobody opened (late pieces of a cancelled request). */
  dropped = 0;

  open(token: string): TextStream {
    const stream = new TextStream(token);
    this.streams.set(token, stream);
    return stream;
  }

  close(token: string): void {
    this.streams.delete(token);
  }

  /** Routes one notification; returns false when its token is unknown or malformed. */
  push(params: unknown): boolean {
    if (!isStreamNotification(params)) {
      this.dropped += 1;
      return false;
    }
    const stream = this.streams.get(String(params.token));
    if (stream === undefined) {
      this.dropped += 1;
      return false;
    }
    stream.append(params.delta);
    return true;
  }

  get openCount(): number {
    return this.streams.size;
  }
}

function isStreamNotification(value: unknown): value is StreamNotification {
  if (value === null || typeof value !== 'object') {
    return false;
  }
  const v = value as Record<string, unknown>;
  return (typeof v.token === 'string' || typeof v.token === 'number') && typeof v.delta === 'string';
}

let counter = 0;
/** A fresh work-done token string. */
export function newToken(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}
