import { ServiceGroup, type Service } from '../../src/util/ServiceGroup';

function recorder(log: string[], name: string, failStart = false): Service {
  return {
    start: async () => {
      if (failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    stop: async () => {
      log.push(`stop ${name}`);
    },
  };
}

test('starts in order and stops in reverse order', async () => {
  const log: string[] = [];
  const group = new ServiceGroup([recorder(log, 'a'), recorder(log, 'b')]);
  await group.start();
  await group.stop();
  expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
});

test('a failed start stops what had started and rethrows', async () => {
  const log: string[] = [];
  const group = new ServiceGroup([recorder(log, 'a'), recorder(log, 'b'), recorder(log, 'c', true), recorder(log, 'd')]);
  await expect(group.start()).rejects.toThrow('c cannot start');
  expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
});

test('a failing stop does not keep the others running', async () => {
  const log: string[] = [];
  const failing: Service = { start: async () => undefined, stop: async () => Promise.reject(new Error('stuck')) };
  const group = new ServiceGroup([recorder(log, 'a'), failing, recorder(log, 'b')]);
  await group.start();
  await expect(group.stop()).rejects.toThrow('stuck');
  expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
});

test('reload reaches every service that can, even after one fails, and reports the failure', async () => {
  const reloaded: string[] = [];
  const reloadable = (name: string, fail = false): Service => ({
    start: async () => undefined,
    stop: async () => undefined,
    reload: async () => {
      if (fail) throw new Error(`${name} broken`);
      reloaded.push(name);
    },
  });
  const plain: Service = { start: async () => undefined, stop: async () => undefined };
  const group = new ServiceGroup([reloadable('a'), plain, reloadable('b', true), reloadable('c')]);
  await group.start();
  await expect(group.reload()).rejects.toThrow('b broken');
  expect(reloaded).toEqual(['a', 'c']);
});
