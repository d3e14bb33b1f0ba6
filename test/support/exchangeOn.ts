// One raw HTTP/1.1 exchange on an open connection: writes the request text as given and reads one
// answer (its head and a Content-Length body), leaving the connection open for what comes next.
import type { Duplex } from 'node:stream';

/** Resolves with the answer's text; with what came so far if the peer closes first. */
export function exchangeOn(socket: Duplex, text: string): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const finish = () => {
      socket.off('data', onData);
      socket.off('close', finish);
      resolve(received);
    };
    const onData = (data: Buffer) => {
      received += data.toString();
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(received.slice(0, end))?.[1] ?? 0);
      if (Buffer.byteLength(received.slice(end + 4)) >= length) finish();
    };
    socket.on('data', onData);
    socket.once('close', finish);
    socket.write(text);
  });
}
