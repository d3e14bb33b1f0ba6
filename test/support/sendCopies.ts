// Sends copies of one token at once, each on its own connection, spread in turn over several
// verifier URLs: the replay race that exactly one copy may win.
import { bearer, httpRequest, type Answer } from './httpRequest';

export function sendCopies(urls: string[], token: string, copies: number): Promise<Answer[]> {
  return Promise.all(Array.from({ length: copies }, (_, index) => httpRequest(urls[index % urls.length], { headers: bearer(token) })));
}
