import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { ZodError } from 'zod';
import { GatewayError } from '../errors.js';
import { type Config, type ConfigInput, configSchema } from './schema.js';

/**
 * Builds the one frozen config object: defaults ← file (YAML or JSON) ← environment ← explicit overrides.
 *
 * Environment keys: `HFT__SECTION__KEY_NAME=value` sets `section.keyName` (double underscore nests,
 * snake case becomes camel case). Values are parsed as JSON when they parse (numbers, booleans, arrays),
 * otherwise taken as strings. `HFT_CONFIG_FILE` names the file. Nothing else reads `process.env`.
 */
export interface LoadOptions {
  env?: Readonly<Record<string, string | undefined>>;
  file?: string;
  overrides?: ConfigInput;
}

export const ENV_PREFIX = 'HFT__';

export function loadConfig(options: LoadOptions = {}): Readonly<Config> {
  const env = options.env ?? {};
  const file = options.file ?? env.HFT_CONFIG_FILE;
  const layers: unknown[] = [];
  if (file) layers.push(readConfigFile(file));
  layers.push(fromEnv(env));
  if (options.overrides) layers.push(options.overrides);
  const merged = layers.reduce<Record<string, unknown>>((acc, layer) => deepMerge(acc, layer), {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw configError(parsed.error);
  return deepFreeze(parsed.data);
}

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `cannot read config file ${file}`,
      { file },
      { cause: err },
    );
  }
  try {
    return file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `config file ${file} does not parse`,
      { file },
      { cause: err },
    );
  }
}

function fromEnv(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).split('__').map(snakeToCamel);
    let node = out;
    for (const part of path.slice(0, -1)) {
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = parseEnvValue(raw);
  }
  return out;
}

function snakeToCamel(part: string): string {
  return part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parseEnvValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function configError(error: ZodError): GatewayError {
  const problems = error.issues.map((issue) => {
    const key = issue.path.join('.') || '(root)';
    const unknown = issue.code === 'unrecognized_keys' ? ` ${issue.keys.join(', ')}` : '';
    return `${key}: ${issue.message}${unknown}`;
  });
  return new GatewayError('GW_ERR_CONFIG_INVALID', problems.join('; '), { problems });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, layer: unknown): Record<string, unknown> {
  if (!isPlainObject(layer)) return base;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(layer)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

export function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
