import type { Command } from 'commander';
import { goldenCells, GOLDEN_HEADERS } from '../golden.js';
import { clientFrom, durationArg, withClientOptions, withTokenHelp, type GlobalOptions } from '../options.js';
import { formatTable } from '../output.js';
import { parseDuration } from '../../util/duration.js';
import { messageOf } from '../../errors.js';
import { statTable } from './stat.js';

/** Clear the screen and move home (ANSI), like `top`. */
const CLEAR = '\u001b[2J\u001b[H';

export function topCommand(program: Command): void {
  withClientOptions(program.command('top')
    .description('a live view of the mesh, refreshed in place: services and the calls between them (Ctrl-C to stop)'))
    .option('--window <duration>', 'the time window of each figure (1s–15m)', durationArg('--window'), '10s')
    .option('--every <duration>', 'refresh interval', durationArg('--every'), '1s')
    .option('--once', 'print one frame and exit (for scripts and tests)')
    .action(async (options: GlobalOptions & { window: string; every: string; once?: boolean }) => {
      const client = clientFrom(options);
      const frame = async (): Promise<string> => {
        const [stat, edges] = await Promise.all([client.stat({ window: options.window }), client.edges({ window: options.window })]);
        if (options.json) return JSON.stringify({ time: Date.now(), services: stat.services, edges: edges.edges });
        const edgeTable = edges.edges.length === 0 ? 'no calls between meshed services'
          : formatTable(['SRC', 'DST', ...GOLDEN_HEADERS], edges.edges.map((e) => [e.src, e.dst, ...goldenCells(e)]));
        return `trellis top — ${client.baseUrl} — last ${stat.window} — ${new Date().toISOString()}\n\n${statTable(stat.services)}\n\n${edgeTable}\n`;
      };
      if (options.once) {
        process.stdout.write(`${await frame()}\n`);
        return;
      }
      const everyMs = parseDuration(options.every) ?? 1_000;
      for (;;) {
        let text: string;
        try {
          text = await frame();
        } catch (err) {
          text = `trellis top: ${messageOf(withTokenHelp(err))} — retrying`;
        }
        process.stdout.write(options.json ? `${text}\n` : `${CLEAR}${text}`);
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    });
}
