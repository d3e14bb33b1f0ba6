// An open-loop load generator (wrk2 is not packaged in Debian): requests are due at a fixed
// rate whatever the answers do, and each one's latency counts from when it was due, not from
// when a connection was free to send it — so queueing shows in the tail (no coordinated
// omission). Keep-alive HTTP/1.1 on `connections` sockets, one request in flight on each.
// Prints one JSON line: offered and achieved rate, percentiles in ms, errors, its own CPU.
//   node fixedRate.js <url> <rate/s> <seconds> [connections] [warm-up seconds]
// Env: TOKENS (a file, one token per line: one per request), HEADER (the token's header;
// default Authorization: Bearer), START (first token line), FIXED_HEADER ("Name: value" on every request).
import * as fs from 'node:fs';
import * as net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const [url, rateArg, secondsArg, connectionsArg = '64', warmUpArg = '2'] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const warmUpSeconds = Number(warmUpArg);
const target = new URL(url);
const tokens = process.env.TOKENS ? fs.readFileSync(process.env.TOKENS, 'utf8').split('\n').filter(Boolean) : [];
const tokenHeader = process.env.HEADER;
const fixedHeader = process.env.FIXED_HEADER ? `${process.env.FIXED_HEADER}\r\n` : '';
let tokenIndex = Number(process.env.START ?? 0);

function nextRequest(): string {
  let credential = fixedHeader;
  if (tokens.length > 0) {
    const token = tokens[tokenIndex++ % tokens.length];
    credential = tokenHeader ? `${tokenHeader}: ${token}\r\n` : `Authorization: Bearer ${token}\r\n`;
  }
  return `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n${credential}\r\n`;
}

interface Connection {
  socket: net.Socket;
  /** When the request in flight was due; undefined when idle. */
  due: number | undefined;
  buffer: string;
}

const latencies: number[] = [];
/** Requests due but not sent (no connection free): their due times, oldest at `dueHead`. */
const due: number[] = [];
let dueHead = 0;
const idle: Connection[] = [];
let errors = 0;
let non2xx = 0;
let started = 0;
let measuring = false;
/** Answers to requests due before this (the warm-up) are not counted. */
let measuredFrom = Infinity;
let stopping = false;

function open(): Connection {
  const connection: Connection = { socket: net.connect(Number(target.port), target.hostname), due: undefined, buffer: '' };
  connection.socket.setNoDelay(true);
  connection.socket.setEncoding('latin1');
  connection.socket.once('connect', () => release(connection));
  connection.socket.on('data', (chunk: string) => receive(connection, chunk));
  connection.socket.on('error', () => undefined);
  connection.socket.once('close', () => {
    if (connection.due !== undefined) errors++;
    const at = idle.indexOf(connection);
    if (at >= 0) idle.splice(at, 1);
    if (!stopping) open();
  });
  return connection;
}

/** Parses as much of one answer as has arrived: status, then a Content-Length or chunked body. */
function receive(connection: Connection, chunk: string): void {
  connection.buffer += chunk;
  const headEnd = connection.buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return;
  const head = connection.buffer.slice(0, headEnd);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  let end: number;
  if (length) {
    end = headEnd + 4 + Number(length[1]);
    if (connection.buffer.length < end) return;
  } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const last = connection.buffer.indexOf('0\r\n\r\n', headEnd + 4);
    if (last < 0) return;
    end = last + 5;
  } else {
    end = headEnd + 4;
  }
  const status = Number(head.slice(9, 12));
  connection.buffer = connection.buffer.slice(end);
  if (connection.due !== undefined && connection.due >= measuredFrom) {
    latencies.push(performance.now() - connection.due);
    if (status < 200 || status >= 400) non2xx++;
  }
  connection.due = undefined;
  release(connection);
}

function release(connection: Connection): void {
  if (dueHead === due.length) return void idle.push(connection);
  send(connection, due[dueHead++]);
  if (dueHead > 4096 && dueHead * 2 > due.length) {
    due.splice(0, dueHead);
    dueHead = 0;
  }
}

function send(connection: Connection, dueAt: number): void {
  connection.due = dueAt;
  connection.socket.write(nextRequest());
}

/** The loader's own event-loop lag: what of the latency is its own, on a busy box. */
const loopDelay = monitorEventLoopDelay({ resolution: 5 });

function run(): void {
  for (let i = 0; i < Number(connectionsArg); i++) open();
  const t0 = performance.now() + 200;
  const warmUpEnd = t0 + warmUpSeconds * 1000;
  measuredFrom = warmUpEnd;
  const end = warmUpEnd + seconds * 1000;
  let sent = 0;
  let cpuAtStart = process.cpuUsage();
  const tick = setInterval(() => {
    const now = performance.now();
    for (let at = t0 + (sent * 1000) / rate; at <= now && at < end; at = t0 + (sent * 1000) / rate) {
      if (!measuring && at >= warmUpEnd) {
        measuring = true;
        cpuAtStart = process.cpuUsage();
        loopDelay.enable();
      }
      sent++;
      if (measuring) started++;
      const connection = idle.pop();
      if (connection) send(connection, at);
      else due.push(at);
    }
    if (now >= end) {
      clearInterval(tick);
      // Whatever is still queued or in flight a second after the end counts as lost.
      setTimeout(() => finish(end, cpuAtStart), 1000);
    }
  }, 1);
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function finish(end: number, cpuAtStart: NodeJS.CpuUsage): void {
  stopping = true;
  const cpu = process.cpuUsage(cpuAtStart);
  const sorted = Float64Array.from(latencies).sort();
  const list = Array.from(sorted);
  console.log(
    JSON.stringify({
      offered: rate,
      achieved: latencies.length / seconds,
      started,
      answered: latencies.length,
      lost: started - latencies.length,
      errors,
      non2xx,
      p50Ms: percentile(list, 50),
      p90Ms: percentile(list, 90),
      p99Ms: percentile(list, 99),
      p999Ms: percentile(list, 99.9),
      maxMs: list[list.length - 1],
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      loaderCpuUsPerRequest: latencies.length ? (cpu.user + cpu.system) / latencies.length : NaN,
      endedLateMs: performance.now() - end,
    }),
  );
  process.exit(0);
}

run();
