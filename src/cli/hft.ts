/**
 * `hft` — the operator CLI. Configured like every process (HFT_CONFIG_FILE, HFT__SECTION__KEY env vars).
 *
 *   hft ha status [--json]                     each gateway: role, epoch, lease remaining, last failover
 *   hft ha drill [--venue URL] [--timeout-ms N] planned failover through the leader's admin API, with report
 *   hft policy halt|resume|degrade --reason TEXT [--operator NAME]
 *   hft policy status
 *
 * The admin token for drills is `ops.adminToken` (HFT__OPS__ADMIN_TOKEN). Exit codes: 0 ok, 1 the command
 * ran but found a problem (drill not clean, no leader), 2 usage or connection error.
 */
import { runDrill } from '../../ha/drill.js';
import { loadConfig } from '../config/load.js';
import type { PolicyMode } from '../policy/policy-mode.js';
import { OperatorContext } from './operator-context.js';
import { renderStatus } from './render-status.js';

const USAGE = `usage:
  hft ha status [--json]
  hft ha drill [--venue URL] [--timeout-ms N]
  hft policy status
  hft policy halt|resume|degrade --reason TEXT [--operator NAME]`;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [area, verb, ...rest] = argv;
  if (!area || !verb) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfig({ env: process.env });
  const ctx = await OperatorContext.open(config);
  try {
    if (area === 'ha' && verb === 'status') {
      const members = await ctx.board.members();
      const epoch = Number((await ctx.redis.get(ctx.keys.epoch())) ?? 0);
      if (rest.includes('--json')) process.stdout.write(`${JSON.stringify({ epoch, members })}\n`);
      else process.stdout.write(renderStatus(members, epoch, BigInt(Date.now()) * 1_000_000n));
      return members.filter((m) => m.role === 'ACTIVE').length === 1 ? 0 : 1;
    }
    if (area === 'ha' && verb === 'drill') {
      const venueUrl = flag(rest, 'venue');
      const report = await runDrill({
        board: ctx.board,
        adminToken: config.ops.adminToken,
        timeoutMs: Number(flag(rest, 'timeout-ms') ?? 10_000),
        ...(venueUrl ? { venueUrl } : {}),
      });
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return report.ok ? 0 : 1;
    }
    if (area === 'policy' && verb === 'status') {
      process.stdout.write(`${JSON.stringify(await ctx.redis.hgetall(ctx.keys.policy()))}\n`);
      return 0;
    }
    if (area === 'policy' && ['halt', 'resume', 'degrade'].includes(verb)) {
      const reason = flag(rest, 'reason');
      if (!reason) {
        process.stderr.write('a --reason is required for policy changes\n');
        return 2;
      }
      const mode: PolicyMode = verb === 'halt' ? 'HALT' : verb === 'resume' ? 'NORMAL' : 'DEGRADED';
      const result = await ctx.setPolicy(mode, reason, flag(rest, 'operator') ?? 'cli');
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    process.stderr.write(`${USAGE}\n`);
    return 2;
  } finally {
    ctx.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`hft: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
