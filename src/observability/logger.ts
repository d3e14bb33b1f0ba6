// Structured JSON logs (pino), one object a line, the level as a word ("level":"info") as log
// collectors expect it. Levels follow the Go flag: debug, info, warn, error, fatal, panic.
import pino from 'pino';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal', 'panic'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  // pino has no "panic"; it is the Go name for the most severe level.
  const options: pino.LoggerOptions = {
    level: level === 'panic' ? 'fatal' : level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that drops everything, for components under test. */
export const silentLogger: Logger = pino({ level: 'silent' });
