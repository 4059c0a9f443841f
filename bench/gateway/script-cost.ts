/**
 * Redis CPU of the admit script alone, per call: EVALSHA usec_per_call from INFO commandstats (the
 * script's whole run, its inner commands included) and the inner commands' own share, and Redis CPU per
 * call from INFO cpu (adds parsing, networking, the event loop). Used to find where a script's time goes:
 * `--dir=<commands dir>` runs the scripts of another directory (a variant of admitIntent-n.lua), so two
 * variants can be compared on the same machine minutes apart.
 *
 * `--batch=<n>` sends n intents per call (the gateway batches up to gateway.scriptBatchMax); the figures
 * are per intent.
 *
 * `node_cpu_us_per_intent` is this process's CPU per intent over the same calls: the gateway side of a call
 * (GatewayStore's keys and arguments, ioredis's command encoding, the answer parsing).
 *
 * `--symbols`/`--strategies` set how many distinct ones the intents cycle through (the exposure hash's
 * size), `--redis-config=<name>:<value>` a Redis setting to try.
 *
 *   npx tsx bench/gateway/script-cost.ts [--count=20000] [--concurrency=256] [--batch=1] [--dir=src/commands]
 *        [--symbols=50] [--strategies=8] [--redis-config=hash-max-listpack-entries:64]
 */
import { loadavg } from 'node:os';
import { deriveClientOrderId } from '../../src/contracts/idempotency.js';
import { IntentClient } from '../../src/channel/intent-client.js';
import type { IntentEnvelope } from '../../src/contracts/intent.js';
import { FixedEpochPermit } from '../../src/gateway/fixed-epoch-permit.js';
import { GatewayStore } from '../../src/gateway/gateway-store.js';
import { Keyspace } from '../../src/keys.js';
import { connectRedis } from '../../src/redis/connect.js';
import { Scripts, loadScripts } from '../../src/redis/scripts.js';
import { newIntent } from '../../test/fixtures/intents.js';
import { RedisServer } from '../../test/harness/redis-server.js';
import { argInt } from '../lib/report.js';
import { admitAll, benchAdmitRequest } from './admit-request.js';

const count = argInt('count', 20_000);
const concurrency = argInt('concurrency', 256);
const perCall = argInt('batch', 1);
const symbols = argInt('symbols', 50);
const strategies = argInt('strategies', 8);
/** e.g. --redis-config=hash-max-listpack-entries:64 (CONFIG SET before the run). */
const redisConfig = process.argv.find((a) => a.startsWith('--redis-config='))?.split('=')[1];
const dir = process.argv.find((a) => a.startsWith('--dir='))?.split('=')[1];

function stats(info: string): Map<string, { calls: number; usec: number }> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const m of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+),usec=(\d+)/g)) {
    out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}
function cpuUs(info: string): number {
  const get = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1e6;
}

const server = await RedisServer.start({ aof: false });
try {
  const redis = await connectRedis({ url: server.url, name: 'script-cost' });
  const scripts = new Scripts(dir ? loadScripts(dir) : loadScripts());
  scripts.register(redis);
  const keys = new Keyspace('{hft}');
  const permit = await FixedEpochPermit.acquire(redis, keys);
  const store = new GatewayStore(redis, scripts, keys, 86_400_000);
  const envelopes = Array.from({ length: count }, (_, i) =>
    IntentClient.envelope(
      newIntent(i, {
        qty: 1,
        price: 1_000_000,
        symbol: `B${i % symbols}`,
        strategy_id: `strat-${i % strategies}`,
        ttl_ms: 60_000,
      }),
    ),
  );
  const coids = envelopes.map((e) => deriveClientOrderId(e.idempotency_key));
  const request = (i: number) =>
    benchAdmitRequest(envelopes[i] as IntentEnvelope, coids[i] as string, permit.epoch);
  if (redisConfig) {
    const [name, value] = redisConfig.split(':') as [string, string];
    await redis.call('CONFIG', 'SET', name, value);
  }
  await redis.call('CONFIG', 'RESETSTAT');
  const s0 = stats(await redis.info('commandstats'));
  const c0 = cpuUs(await redis.info('cpu'));
  const t0 = performance.now();
  const n0 = process.cpuUsage();
  await admitAll(store, count, concurrency, perCall, request);
  const n1 = process.cpuUsage(n0);
  const elapsed = (performance.now() - t0) / 1000;
  const s1 = stats(await redis.info('commandstats'));
  const c1 = cpuUs(await redis.info('cpu'));
  const per: Record<string, number> = {};
  let inner = 0;
  for (const [name, v] of s1) {
    const d = v.usec - (s0.get(name)?.usec ?? 0);
    const calls = v.calls - (s0.get(name)?.calls ?? 0);
    if (calls <= 0 || name === 'info' || name.startsWith('config')) continue;
    per[name] = Math.round((d / count) * 100) / 100;
    per[`${name}#calls`] = Math.round((calls / count) * 100) / 100;
    if (name !== 'evalsha' && name !== 'eval') inner += d;
  }
  const evalsha = (s1.get('evalsha')?.usec ?? 0) / count; // per intent
  console.log(
    JSON.stringify({
      bench: 'admit-script-cost',
      dir: dir ?? 'src/commands',
      per_call: perCall,
      symbols,
      strategies,
      redis_config: redisConfig ?? 'default',
      exposure_encoding: await redis.call('OBJECT', 'ENCODING', '{hft}:exposure:acc-1'),
      exposure_fields: await redis.hlen('{hft}:exposure:acc-1'),
      count,
      perSec: Math.round(count / elapsed),
      evalsha_us_per_intent: Math.round(evalsha * 10) / 10,
      inner_commands_us: Math.round((inner / count) * 10) / 10,
      lua_overhead_us: Math.round((evalsha - inner / count) * 10) / 10,
      redis_cpu_us_per_intent: Math.round(((c1 - c0) / count) * 10) / 10,
      // This process: building each request's keys and arguments, ioredis's command encoding and reply
      // parsing, GatewayStore's answer parsing (the envelopes and client order ids are built before).
      node_cpu_us_per_intent: Math.round(((n1.user + n1.system) / count) * 10) / 10,
      used_memory_lua: /used_memory_lua:(\d+)/.exec(await redis.info('memory'))?.[1],
      loadavg_1m: Number((loadavg()[0] ?? 0).toFixed(2)),
      per,
    }),
  );
  redis.disconnect();
} finally {
  await server.stop();
}
process.exit(0);
