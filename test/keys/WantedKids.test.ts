// The list of kids waiting for a fetch slot, on its own: who gets the slot, and how a full list
// makes room without weighing every waiting kid on every request.
import { WantedKids } from '../../src/keys/WantedKids';

const NOW = 1_795_000_000_000;

test('the kid wanted by the most clients gets the slot; the longest waiting among equals', () => {
  const kids = new WantedKids(16, 30_000);
  kids.want('early', '192.0.2.1', NOW);
  kids.want('popular', '192.0.2.2', NOW);
  kids.want('popular', '192.0.2.3', NOW);
  kids.want('late', '192.0.2.4', NOW);
  expect(kids.takeHeaviest(NOW)).toEqual({ kid: 'popular', clients: ['192.0.2.2', '192.0.2.3'] });
  expect(kids.takeHeaviest(NOW)?.kid).toBe('early');
  expect(kids.takeHeaviest(NOW)?.kid).toBe('late');
  expect(kids.takeHeaviest(NOW)).toBeUndefined();
});

test('a full list takes no new kid from a client already waiting, nor one that weighs no more than the longest waiting', () => {
  const kids = new WantedKids(4, 30_000);
  for (let i = 0; i < 4; i++) kids.want(`kid-${i}`, `192.0.2.${i}`, NOW);
  kids.want('another-of-a-waiting-client', '192.0.2.0', NOW);
  kids.want('as-heavy-as-the-rest', '198.51.100.1', NOW);
  expect(kids.size).toBe(4);
  expect(kids.takeHeaviest(NOW)?.kid).toBe('kid-0');
});

test('a full list makes room for a new client when a waiting kid weighs less: its clients were muted', () => {
  const kids = new WantedKids(2, 30_000);
  kids.want('made-up', '203.0.113.9', NOW);
  kids.want('real', '198.51.100.1', NOW);
  kids.mute(['203.0.113.9'], NOW);
  kids.want('other-real', '198.51.100.2', NOW);
  expect(kids.size).toBe(2);
  expect([kids.takeHeaviest(NOW)?.kid, kids.takeHeaviest(NOW)?.kid]).toEqual(['real', 'other-real']);
});

test('muted clients are heard again once the time is up', () => {
  const kids = new WantedKids(8, 30_000);
  kids.mute(['203.0.113.9'], NOW);
  kids.want('muted', '203.0.113.9', NOW);
  kids.want('heard', '198.51.100.1', NOW);
  expect(kids.takeHeaviest(NOW)?.kid).toBe('heard');
  kids.want('heard-again', '198.51.100.1', NOW + 30_000);
  // Both weigh 1 now; the muted one has waited a slot longer.
  expect(kids.takeHeaviest(NOW + 30_000)?.kid).toBe('muted');
});
