// How many cores this process may use: the CPUs it may run on (affinity), lowered by a
// container's CPU quota (cgroup v2 cpu.max, cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us),
// rounded up as Go's runtime rounds it for GOMAXPROCS; at least 1.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface CoreSources {
  /** Where /proc and /sys are: "/" on a real system, a fixture folder in tests. */
  root: string;
  /** The CPUs the process may run on (os.availableParallelism()). */
  parallelism: number;
}

/** Where each cgroup hierarchy is mounted, as container runtimes and systemd mount them. */
const V2_MOUNT = 'sys/fs/cgroup';
const V1_CPU_MOUNTS = ['sys/fs/cgroup/cpu', 'sys/fs/cgroup/cpu,cpuacct', 'sys/fs/cgroup/cpuacct,cpu'];

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** `/a/b` → [`/a/b`, `/a`, `/`]: a parent's quota binds its children too. */
function selfAndAncestors(cgroup: string): string[] {
  const levels: string[] = [];
  for (let current = path.posix.normalize(`/${cgroup}`); ; current = path.posix.dirname(current)) {
    levels.push(current);
    if (current === '/') return levels;
  }
}

/** cgroup v2 `cpu.max`: "max 100000" (no limit) or "<quota> <period>", in microseconds. */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === 'max') return undefined;
  return quotaInCores(Number(quota), Number(period ?? 100_000));
}

/** cgroup v1 cpu.cfs_quota_us (-1: no limit) over cpu.cfs_period_us. */
export function parseCfsQuota(quotaText: string, periodText: string): number | undefined {
  return quotaInCores(Number(quotaText.trim()), Number(periodText.trim()));
}

function quotaInCores(quota: number, period: number): number | undefined {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined;
  return quota / period;
}

/**
 * The process's cgroup paths from /proc/self/cgroup: the v2 one (line `0::/path`) and the v1
 * one of the cpu controller (`4:cpu,cpuacct:/path`).
 */
function cgroupPaths(text: string): { v2?: string; v1Cpu?: string } {
  const paths: { v2?: string; v1Cpu?: string } = {};
  for (const line of text.split('\n')) {
    const [id, controllers, ...rest] = line.split(':');
    const cgroup = rest.join(':');
    if (controllers === undefined || !cgroup) continue;
    if (id === '0' && controllers === '') paths.v2 = cgroup;
    else if (controllers.split(',').includes('cpu')) paths.v1Cpu = cgroup;
  }
  return paths;
}

/**
 * The tightest CPU quota of the process's cgroup and its ancestors, in cores (1.5 = one and
 * a half); undefined when there is none. In a container the cgroup namespace makes the
 * process's own cgroup the mount's root, so the files at the mount's top are the ones read.
 */
export function cpuQuotaCores(root: string): number | undefined {
  const paths = cgroupPaths(readText(path.join(root, 'proc/self/cgroup')) ?? '0::/\n');
  const limits: number[] = [];
  for (const level of selfAndAncestors(paths.v2 ?? '/')) {
    const text = readText(path.join(root, V2_MOUNT, level, 'cpu.max'));
    const cores = text === undefined ? undefined : parseCpuMax(text);
    if (cores !== undefined) limits.push(cores);
  }
  for (const mount of V1_CPU_MOUNTS) {
    for (const level of selfAndAncestors(paths.v1Cpu ?? '/')) {
      const quota = readText(path.join(root, mount, level, 'cpu.cfs_quota_us'));
      const period = readText(path.join(root, mount, level, 'cpu.cfs_period_us'));
      const cores = quota === undefined || period === undefined ? undefined : parseCfsQuota(quota, period);
      if (cores !== undefined) limits.push(cores);
    }
  }
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

/** The number of worker processes `workers: auto` (and no `workers` at all) means. */
export function availableCores(sources: CoreSources = { root: '/', parallelism: os.availableParallelism() }): number {
  const quota = cpuQuotaCores(sources.root);
  const cores = quota === undefined ? sources.parallelism : Math.min(sources.parallelism, Math.ceil(quota));
  return Math.max(1, cores);
}
