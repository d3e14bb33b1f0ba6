// Jest hooks for CLI tests: one upstream for the file, every CLI started is stopped after its test.
import { runCli, type RunningCli } from './cli';
import { stopCli } from './stopCli';
import { TestUpstream } from './testUpstream';

export function cliTestBed(): { readonly upstreamUrl: string; run(yaml: string): RunningCli } {
  const running: RunningCli[] = [];
  let upstream: TestUpstream;
  let upstreamUrl = '';
  beforeAll(async () => {
    upstream = new TestUpstream();
    upstreamUrl = await upstream.listen();
  });
  afterEach(async () => {
    while (running.length) await stopCli(running.pop()!);
  });
  afterAll(() => upstream.close());
  return {
    get upstreamUrl() {
      return upstreamUrl;
    },
    run(yaml: string) {
      const cli = runCli(yaml);
      running.push(cli);
      return cli;
    },
  };
}
