// The log levels an operator names (-log-level), as the Go flag has them; apart from the
// logger so that reading the command line does not load it.
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal', 'panic'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
