// workers: auto (and no `workers` at all) means the cores the process may use: its CPUs,
// lowered by a container's CPU quota, read from fixture copies of /proc and /sys/fs/cgroup.
import * as os from 'node:os';
import * as path from 'node:path';
import { availableCores, cpuQuotaCores, parseCfsQuota, parseCpuMax } from '../../src/cluster/availableCores';

const system = (name: string) => path.join(__dirname, '../fixtures/cgroup', name);
const coresOn = (name: string, parallelism: number) => availableCores({ root: system(name), parallelism });

describe('quota files', () => {
  test('cgroup v2 cpu.max is quota over period; "max" is no limit', () => {
    expect(parseCpuMax('250000 100000\n')).toBe(2.5);
    expect(parseCpuMax('max 100000\n')).toBeUndefined();
  });

  test('cgroup v1 cfs quota over period; -1 is no limit', () => {
    expect(parseCfsQuota('400000\n', '100000\n')).toBe(4);
    expect(parseCfsQuota('-1\n', '100000\n')).toBeUndefined();
  });

  test('unreadable numbers are no limit rather than zero cores', () => {
    expect(parseCpuMax('\n')).toBeUndefined();
    expect(parseCfsQuota('abc', '100000')).toBeUndefined();
    expect(parseCfsQuota('100000', '0')).toBeUndefined();
  });
});

describe('the quota of the process', () => {
  test('cgroup v2 in a container: the cpu.max at the top of the mount', () => {
    expect(cpuQuotaCores(system('v2-quota'))).toBe(1.5);
  });

  test('cgroup v2 without a namespace: the slice above the service binds it', () => {
    expect(cpuQuotaCores(system('v2-service'))).toBe(3);
  });

  test('cgroup v1 on a cpu,cpuacct mount', () => {
    expect(cpuQuotaCores(system('v1-quota'))).toBe(4);
  });

  test('cgroup v1 as Docker mounts it without a cgroup namespace', () => {
    expect(cpuQuotaCores(system('v1-docker-host-namespace'))).toBe(2);
  });

  test.each(['v2-unlimited', 'v1-unlimited', 'hybrid-unlimited', 'none'])('%s: no quota', (name) => {
    expect(cpuQuotaCores(system(name))).toBeUndefined();
  });
});

describe('availableCores', () => {
  test('without a quota: every CPU the process may run on', () => {
    expect(coresOn('v2-unlimited', 8)).toBe(8);
    expect(coresOn('none', 3)).toBe(3);
  });

  test('a fractional quota is rounded up, as Go rounds GOMAXPROCS', () => {
    expect(coresOn('v2-quota', 8)).toBe(2);
  });

  test('a quota above the CPUs the process may run on does not raise the count', () => {
    expect(coresOn('v1-quota', 2)).toBe(2);
  });

  test('less than one core is still one worker', () => {
    expect(coresOn('v2-half-core', 8)).toBe(1);
  });

  test('on this machine: at least one, at most os.availableParallelism()', () => {
    const cores = availableCores();
    expect(cores).toBeGreaterThanOrEqual(1);
    expect(cores).toBeLessThanOrEqual(os.availableParallelism());
  });
});
