// Structured JSON logs (pino), one object a line, the level as a word ("level":"info") as log
// collectors expect it. Levels follow the Go flag: debug, info, warn, error, fatal, panic.
import pino from 'pino';
import type { LogLevel } from './logLevel';

export type Logger = pino.Logger;

/**
 * pino's isoTime formats a Date for every line (5 µs of a busy proxy's ~120 µs per request with
 * the access log on); lines within one millisecond share the text.
 */
function isoTimeOncePerMillisecond(): () => string {
  let lastMs = -1;
  let text = '';
  return () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      text = `,"time":"${new Date(now).toISOString()}"`;
    }
    return text;
  };
}

export function createLogger(level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  // pino has no "panic"; it is the Go name for the most severe level.
  const options: pino.LoggerOptions = {
    level: level === 'panic' ? 'fatal' : level,
    base: { pid: process.pid },
    timestamp: isoTimeOncePerMillisecond(),
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * What a line built by hand needs to read as the logger's own: its stream, time field and bindings
 * (pid…). These are pino's internals, hence pino pinned to one version in package.json;
 * test/observability/AccessLog.test.ts compares such a line with pino's own.
 */
export interface LoggerLineParts {
  write(line: string): void;
  /** `,"time":"…"`, as the logger writes it now. */
  time(): string;
  /** `,"pid":…` and any child bindings. */
  bindings: string;
}

export function loggerLineParts(logger: Logger): LoggerLineParts {
  const internals = logger as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym] as { write(line: string): unknown };
  const time = internals[pino.symbols.timeSym] as () => string;
  return { write: (line) => void stream.write(line), time, bindings: internals[pino.symbols.chindingsSym] as string };
}

/** A logger that drops everything, for components under test. */
export const silentLogger: Logger = pino({ level: 'silent' });
