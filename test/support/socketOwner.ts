// Which process holds the server end of a loopback TCP connection, read from /proc (Linux): tells
// which cluster worker accepted a connection.
import * as fs from 'node:fs';

/** `127.0.0.1:port` as /proc/net/tcp writes it (address bytes little-endian, port big-endian hex). */
function procAddress(port: number): string {
  return `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The one of `pids` holding the socket 127.0.0.1:serverPort ↔ 127.0.0.1:clientPort, or undefined. */
export function socketOwner(serverPort: number, clientPort: number, pids: number[]): number | undefined {
  const [local, remote] = [procAddress(serverPort), procAddress(clientPort)];
  const row = fs
    .readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[1] === local && fields[2] === remote);
  if (!row) return undefined;
  const link = `socket:[${row[9]}]`;
  return pids.find((pid) =>
    fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === link;
      } catch {
        return false; // closed meanwhile
      }
    }),
  );
}
