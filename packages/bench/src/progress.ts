/** Progress display: a cli-progress bar on a TTY, nothing otherwise (CI, tests, --json). */
import cliProgress from 'cli-progress';

export interface Progress {
  phase(name: string, total: number): void;
  update(value: number, info: string): void;
  stop(): void;
}

export const silentProgress: Progress = { phase: () => undefined, update: () => undefined, stop: () => undefined };

export function createProgress(enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return silentProgress;
  const bar = new cliProgress.SingleBar(
    {
      format: ' {phase} |{bar}| {value}/{total} {info}',
      barsize: 30,
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let phaseName = '';
  return {
    phase(name, total) {
      if (started) bar.stop();
      phaseName = name.padEnd(9);
      bar.start(Math.max(1, Math.round(total)), 0, { phase: phaseName, info: '' });
      started = true;
    },
    update(value, info) {
      if (started) bar.update(Math.round(value), { phase: phaseName, info });
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
