import { Counter, type Registry } from 'prom-client';

export interface ChannelMetrics {
  readonly completed: Counter;
  readonly storedReplies: Counter;
  readonly invalid: Counter<'reason'>;
  readonly handlerErrors: Counter;
  readonly claimed: Counter;
  readonly deadLettered: Counter;
  readonly deadLetterFull: Counter;
  readonly loopErrors: Counter<'loop'>;
}

export function createChannelMetrics(registry: Registry): ChannelMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name: `hft_channel_${name}`, help, labelNames, registers: [registry] });
  return {
    completed: counter('completed_total', 'Intents completed (decision stored, replied, acknowledged)'),
    storedReplies: counter(
      'stored_replies_total',
      'Entries answered from a stored decision without the handler',
    ),
    invalid: counter('invalid_envelopes_total', 'Entries rejected for a malformed envelope', ['reason']),
    handlerErrors: counter('handler_errors_total', 'Handler failures; the entry stays pending for retry'),
    claimed: counter('claimed_total', 'Pending entries claimed from dead or failing consumers'),
    deadLettered: counter('dead_lettered_total', 'Entries moved to the dead-letter stream'),
    deadLetterFull: counter(
      'dead_letter_full_total',
      'Poisoned entries left pending because the DLQ is full',
    ),
    loopErrors: counter('loop_errors_total', 'Errors in the read or claim loop (retried)', ['loop']),
  };
}
