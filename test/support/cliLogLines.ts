// The JSON log lines (pino) in a jwtproxy process's output; other lines are skipped.

export interface CliLogLine {
  /** As a word: debug, info, warn, error, fatal. */
  level: string;
  msg: string;
  pid: number;
  /** Set by cluster workers. */
  worker?: number;
  [field: string]: unknown;
}

export function cliLogLines(output: string): CliLogLine[] {
  const lines: CliLogLine[] = [];
  for (const text of output.split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(text) as CliLogLine);
    } catch {
      // A line cut in two by a chunk boundary while the process is still writing.
    }
  }
  return lines;
}
