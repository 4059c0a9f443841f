/**
 * One OS process of the exposure concurrency test: runs a full Gateway (its own consumer in the shared
 * group, its own TcpBroker) under the epoch the parent took, and submits its share of conflicting intents
 * through the channel. Prints one JSON line: {decisions: Decision[]}.
 * argv: <configJson> <childIndex> <intentCount> <processCount>
 *
 * All children share one epoch, which no production topology does: a gateway's activation reconciles
 * every ADMITTED journal entry (minAge 0, as on a lease takeover), so a child activating while a peer is
 * already dispatching would resend the peer's intents whose first send is still on its way (refused by
 * the venue as a duplicate client order id, but an attempt all the same). Hence the barrier: nobody
 * submits until every child is ACTIVE.
 */
import type { Redis } from 'ioredis';
import { IntentClient } from '../../src/channel/intent-client.js';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { IntentInput } from '../../src/contracts/intent.js';
import type { DispatchPermit } from '../../src/gateway/dispatch-permit.js';
import { startGateway } from '../gateway/gateway-env.js';

const ACTIVE_COUNT_KEY = 'test:exposure:active-children';

async function main(): Promise<void> {
  const [configJson, indexText, countText, processesText] = process.argv.slice(2) as [
    string,
    string,
    string,
    string,
  ];
  const index = Number(indexText);
  const config = loadConfig({
    overrides: { ...(JSON.parse(configJson) as ConfigInput), processId: `gw-child-${index}` },
  });
  const g = await startGateway(config, {}, 'bare');
  const epoch = Number(await g.gateway.redis.get(g.gateway.keys.epoch()));
  let fenced = false;
  const permit: DispatchPermit = {
    epoch,
    mayDispatch: () => !fenced,
    onFenced: () => {
      fenced = true;
    },
  };
  await g.gateway.activate(permit);
  await allActive(g.gateway.redis, Number(processesText));
  const c = await IntentClient.connect({
    redisUrl: config.redis.stateUrl,
    keyPrefix: config.redis.keyPrefix,
    channel: config.channel,
  });
  const intents: IntentInput[] = [];
  for (let i = 0; i < Number(countText); i++) {
    const n = index * 1_000 + i;
    intents.push({
      strategy_id: `strat-${n % 3}`,
      account: 'acc-1',
      intent_id: `c${index}-${i}`,
      ttl_ms: 60_000,
      kind: 'NEW',
      symbol: n % 2 === 0 ? 'HOT' : 'WARM',
      side: n % 5 === 0 ? 'SELL' : 'BUY',
      qty: 1 + (n % 5),
      price: 1_000_000,
      tif: 'DAY',
    });
  }
  let decisions: unknown[];
  try {
    decisions = await Promise.all(intents.map((i) => c.submit(i)));
  } catch (err) {
    for (const l of g.logs) if (l.level !== 'info') process.stderr.write(`${JSON.stringify(l)}\n`);
    throw err;
  }
  process.stdout.write(`${JSON.stringify({ decisions, intents })}\n`);
  await c.close();
  await g.close();
  process.exit(0);
}

async function allActive(redis: Redis, processes: number): Promise<void> {
  await redis.incr(ACTIVE_COUNT_KEY);
  while (Number(await redis.get(ACTIVE_COUNT_KEY)) < processes) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`exposure child failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
