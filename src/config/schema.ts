import { z } from 'zod';
import { channelSection, clickhouseSection, logSection, opsSection, redisSection } from './sections.js';
import { walSection } from '../wal/config.js';
import { loaderSection } from '../../loaders/config.js';
import { riskSection } from '../risk/config.js';
import { brokerSection } from '../broker/config.js';
import { haSection } from '../../ha/config.js';
import { quotesSection } from '../quotes/config.js';
import { policySection } from '../policy/config.js';
import { gatewaySection } from '../gateway/config.js';
import { exposureSection } from '../exposure/config.js';

/** The whole configuration of every process. Each process reads the slices it needs. */
export const configSchema = z
  .object({
    /** Stable identity of this process (gateway id, loader id, producer id in the WAL). */
    processId: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only')
      .default('gw-1'),
    redis: redisSection.default({}),
    channel: channelSection.default({}),
    ops: opsSection.default({}),
    log: logSection.default({}),
    clickhouse: clickhouseSection.default({}),
    wal: walSection.default({}),
    loader: loaderSection.default({}),
    risk: riskSection.default({}),
    broker: brokerSection.default({}),
    ha: haSection.default({}),
    quotes: quotesSection.default({}),
    policy: policySection.default({}),
    gateway: gatewaySection.default({}),
    exposure: exposureSection.default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
