import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/**
 * Lua scripts live as files, `src/commands/<camelName>-<numKeys>.lua`, each opening with a header block
 * (purpose, KEYS, ARGV, output). Shared Lua sits in `src/commands/includes/` and is pulled in with a line
 * `-- @include "name"`. Each script is registered with ioredis `defineCommand` under `name:version`, the
 * version being a hash of its text, so two releases can share one Redis during a rolling deploy. A script
 * that takes a variable number of keys (several intents per call) is named `<camelName>-n.lua`; `run`
 * then passes the key count itself.
 */
export interface ScriptDef {
  readonly name: string;
  /** undefined: variable, given per call (`<name>-n.lua`). */
  readonly numberOfKeys: number | undefined;
  readonly version: string;
  readonly lua: string;
}

export const COMMANDS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'commands');

const INCLUDE = /^--\s*@include\s+"([A-Za-z0-9_-]+)"\s*$/gm;

export function loadScripts(dir: string = COMMANDS_DIR): ReadonlyMap<string, ScriptDef> {
  const scripts = new Map<string, ScriptDef>();
  for (const file of readdirSync(dir)) {
    const match = /^([A-Za-z0-9]+)-(\d+|n)\.lua$/.exec(file);
    if (!match) continue;
    const [, name, keys] = match as unknown as [string, string, string];
    const numberOfKeys = keys === 'n' ? undefined : Number(keys);
    const lua = resolveIncludes(readFileSync(join(dir, file), 'utf8'), join(dir, 'includes'), new Set());
    const version = createHash('sha1').update(lua).digest('hex').slice(0, 8);
    scripts.set(name, Object.freeze({ name, numberOfKeys, version, lua }));
  }
  return scripts;
}

function resolveIncludes(lua: string, includesDir: string, seen: Set<string>): string {
  return lua.replace(INCLUDE, (_, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return resolveIncludes(readFileSync(join(includesDir, `${name}.lua`), 'utf8'), includesDir, seen);
  });
}

type ScriptArg = string | number | Buffer;
type CommandFn = (...args: ScriptArg[]) => Promise<unknown>;

/** Registers scripts on a connection and runs them by name (EVALSHA, falling back to EVAL on NOSCRIPT). */
export class Scripts {
  private readonly defs: ReadonlyMap<string, ScriptDef>;

  constructor(defs: ReadonlyMap<string, ScriptDef> = loadScripts()) {
    this.defs = defs;
  }

  register(redis: Redis): void {
    for (const def of this.defs.values()) {
      redis.defineCommand(
        commandName(def),
        def.numberOfKeys === undefined ? { lua: def.lua } : { numberOfKeys: def.numberOfKeys, lua: def.lua },
      );
    }
  }

  get(name: string): ScriptDef {
    const def = this.defs.get(name);
    if (!def) throw new Error(`no Lua script named ${name} in ${COMMANDS_DIR}`);
    return def;
  }

  run(redis: Redis, name: string, keys: readonly ScriptArg[], args: readonly ScriptArg[]): Promise<unknown> {
    const def = this.get(name);
    if (def.numberOfKeys !== undefined && keys.length !== def.numberOfKeys) {
      throw new Error(`script ${name} takes ${def.numberOfKeys} keys, got ${keys.length}`);
    }
    const fn = (redis as unknown as Record<string, CommandFn>)[commandName(def)];
    if (!fn) throw new Error(`script ${name} is not registered on this connection`);
    return def.numberOfKeys === undefined
      ? fn.call(redis, keys.length, ...keys, ...args)
      : fn.call(redis, ...keys, ...args);
  }
}

function commandName(def: ScriptDef): string {
  return `${def.name}:${def.version}`;
}
