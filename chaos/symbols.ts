/** The symbols the local cluster's strategy workers trade (and its quote feed serves). */
export const CLUSTER_SYMBOLS = ['2330', '2317', '2454'] as const;

/** The price every worker intent carries, scaled by 10^4 (580.5): the feed starts each symbol there. */
export const WORKER_PRICE_SCALED = 5_805_000;
export const WORKER_PRICE_TEXT = '580.5';
