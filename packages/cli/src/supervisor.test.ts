import { waitFor } from '@herald/testkit';
import { Supervisor } from './supervisor';

const node = process.execPath;

describe('Supervisor', () => {
  it('prefixes output, restarts a crashed service and stops all on request', async () => {
    const lines: string[] = [];
    const supervisor = new Supervisor(
      [
        // Prints, then crashes at once: must be restarted.
        { name: 'crasher', command: node, args: ['-e', 'console.log("up"); process.exit(3)'] },
        // Runs until SIGTERM, then says goodbye and exits cleanly.
        {
          name: 'steady',
          command: node,
          args: [
            '-e',
            'console.log("ready"); process.on("SIGTERM", () => { console.log("bye"); process.exit(0); }); setInterval(() => {}, 1000);',
          ],
        },
      ],
      { write: (line) => lines.push(line) },
    );
    supervisor.start();
    await waitFor(() => lines.filter((l) => /crasher +\| up/.test(l)).length >= 2, {
      what: 'a restart',
      timeoutMs: 10_000,
    });
    expect(lines.some((l) => /crasher +\| exited \(code 3\); restarting/.test(l))).toBe(true);
    await waitFor(() => lines.some((l) => /steady +\| ready/.test(l)));
    await supervisor.stop();
    expect(lines.some((l) => /steady +\| bye/.test(l))).toBe(true);
  });

  it('does not restart a service that exits with the configuration exit code', async () => {
    const lines: string[] = [];
    const supervisor = new Supervisor(
      [
        {
          name: 'misconfigured',
          command: node,
          args: ['-e', 'console.error("JWT_SECRET: required"); process.exit(78)'],
        },
      ],
      { write: (line) => lines.push(line), noRestartExitCode: 78 },
    );
    supervisor.start();
    await waitFor(() => lines.some((l) => /not restarting/.test(l)));
    expect(lines.filter((l) => /JWT_SECRET/.test(l))).toHaveLength(1);
    await supervisor.stop();
  });
});
