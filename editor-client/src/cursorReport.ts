// Tells the server where the cursor settled (`offpilot/cursor`), so it can evaluate that
// place's prompt while the model is idle and the first suggestion there comes fast.
// Pure apart from the vscode types: the debounce is tested without an editor.

export const CURSOR_NOTIFICATION = 'offpilot/cursor';
export const CURSOR_SETTLE_MS = 300;

export interface CursorPlace {
  uri: string;
  line: number;
  character: number;
}

export interface CursorParams {
  textDocument: { uri: string };
  position: { line: number; character: number };
}

/** Sends one notification per pause: moves within `settleMs` of each other count as one. */
export class CursorReporter {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = '';

  constructor(
    private readonly send: (params: CursorParams) => void,
    private readonly settleMs: number = CURSOR_SETTLE_MS,
  ) {}

  /** The cursor moved to `place`; undefined when it is in no document Offpilot completes. */
  moved(place: CursorPlace | undefined): void {
    this.cancel();
    if (place === undefined) {
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const key = `${place.uri}:${place.line}:${place.character}`;
      if (key === this.last) {
        return; // the server was told about this place already
      }
      this.last = key;
      this.send({ textDocument: { uri: place.uri }, position: { line: place.line, character: place.character } });
    }, this.settleMs);
  }

  cancel(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  dispose(): void {
    this.cancel();
  }
}
