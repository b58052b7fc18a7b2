// The server's stderr log lines into the output channel at their own level. Pure parsing.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface ServerLogLine {
  level: LogLevel;
  /** The message without the server's own timestamp and level (the channel adds them). */
  text: string;
}

const LEVELS: Record<string, LogLevel> = {
  DEBUG: 'debug', INFO: 'info', WARNING: 'warn', WARN: 'warn', ERROR: 'error', CRITICAL: 'error',
};

// "2026-11-24 09:44:02,738 INFO offpilot.engine.local: message" (Python logging's asctime levelname)
const PREFIX = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?\s+(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\s+(.*)$/;
const BARE = /^(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)[:\s]\s*(.*)$/;

/**
 * Classifies one stderr line. Lines without a level (traceback frames, native library output)
 * keep the level of the line before them.
 */
export function parseServerLogLine(line: string, previous: LogLevel = 'info'): ServerLogLine {
  const m = PREFIX.exec(line) ?? BARE.exec(line);
  if (m) {
    return { level: LEVELS[m[1]!] ?? 'info', text: m[2]! };
  }
  return { level: previous, text: line };
}
