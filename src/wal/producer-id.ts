import { GatewayError } from '../errors.js';

/**
 * A producer id names a WAL directory and appears in SQL and segment ids, so it is held to the same
 * alphabet as `processId` in the config schema (no path separators, no quotes).
 */
export const PRODUCER_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export function assertProducerId(producerId: string): string {
  if (!PRODUCER_ID_PATTERN.test(producerId) || producerId === '.' || producerId === '..') {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `producer id ${JSON.stringify(producerId)} is not allowed`,
    );
  }
  return producerId;
}
