// Polls a condition on real time until it holds, for behaviour that settles by itself (reconnects, restarts).

export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
