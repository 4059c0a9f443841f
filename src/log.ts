import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Structured JSON logs. Secrets are redacted by path wherever they appear in a log record; trace ids
 * travel as `trace_id` on child loggers (`logger.child({ trace_id })`).
 */
export const REDACT_PATHS = [
  'password',
  'token',
  'adminToken',
  'authorization',
  '*.password',
  '*.token',
  '*.adminToken',
  '*.authorization',
  '*.*.password',
  '*.*.adminToken',
  'req.headers.authorization',
];

export type { Logger };

export function createLogger(
  opts: { level: string; processId: string; component?: string },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level: opts.level,
      base: { process_id: opts.processId, ...(opts.component ? { component: opts.component } : {}) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
