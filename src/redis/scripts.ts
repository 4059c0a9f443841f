import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, type Redis } from 'ioredis';
// Not re-exported by ioredis's index: the auto-pipelining its own command methods go through.
import { executeWithAutoPipelining } from 'ioredis/built/autoPipelining.js';

/**
 * Lua scripts live as files, `src/commands/<camelName>-<numKeys>.lua`, each opening with a header block
 * (purpose, KEYS, ARGV, output). Shared Lua sits in `src/commands/includes/` and is pulled in with a line
 * `-- @include "name"`. Each script is run by the SHA-1 of its text (`run`), so two releases can share one
 * Redis during a rolling deploy; `register` also defines it as an ioredis command `name:version` (the
 * version being the start of that hash) for code that calls it by that name, which `run` does not need.
 * A script that takes a variable number of keys (several intents per call) is named `<camelName>-n.lua`;
 * `run` then passes the key count itself.
 */
export interface ScriptDef {
  readonly name: string;
  /** undefined: variable, given per call (`<name>-n.lua`). */
  readonly numberOfKeys: number | undefined;
  readonly version: string;
  /** SHA-1 of `lua`: what EVALSHA names. */
  readonly sha: string;
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
    const sha = createHash('sha1').update(lua).digest('hex');
    scripts.set(name, Object.freeze({ name, numberOfKeys, version: sha.slice(0, 8), sha, lua }));
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

/** Registers scripts on a connection and runs them by name (EVALSHA, falling back to EVAL on NOSCRIPT). */
export class Scripts {
  private readonly defs: ReadonlyMap<string, ScriptDef>;
  /** Per connection, the scripts already sent to it by text. */
  private readonly sent = new WeakMap<Redis, Set<string>>();

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

  /**
   * Runs a script: EVAL with its text the first time on a connection (as ioredis does), EVALSHA after,
   * and EVAL again when the server answers NOSCRIPT (a restarted Redis; NOSCRIPT is answered before
   * anything runs, so resending is safe).
   *
   * The command is built here with its argument array already flat and every number already a string,
   * instead of through the `defineCommand` method: ioredis's Command constructor copies its arguments
   * with `args.flat()`, which costs ≈ 0.15–0.3 µs per element in V8, and a batched admit or outcome call
   * carries ≈ 20 arguments per intent (docs/gateway.md, Node-side CPU per intent). It still goes through
   * ioredis's auto-pipelining (the commands of a tick in one socket write): sent on their own, the extra
   * writes cost Redis and the venue more than the copy saved (docs/gateway.md, Where the time goes).
   */
  run(redis: Redis, name: string, keys: readonly ScriptArg[], args: readonly ScriptArg[]): Promise<unknown> {
    const def = this.get(name);
    if (def.numberOfKeys !== undefined && keys.length !== def.numberOfKeys) {
      throw new Error(`script ${name} takes ${def.numberOfKeys} keys, got ${keys.length}`);
    }
    let sent = this.sent.get(redis);
    if (!sent) {
      sent = new Set();
      this.sent.set(redis, sent);
    }
    const known = sent.has(def.sha);
    sent.add(def.sha);
    const argv: (string | Buffer)[] = new Array(2 + keys.length + args.length);
    argv[0] = known ? def.sha : def.lua;
    argv[1] = String(keys.length);
    let i = 2;
    for (const k of keys) argv[i++] = typeof k === 'number' ? String(k) : k;
    for (const a of args) argv[i++] = typeof a === 'number' ? String(a) : a;
    if (!known) return send(redis, 'eval', argv);
    return send(redis, 'evalsha', argv).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      const withText = argv.slice();
      withText[0] = def.lua;
      return send(redis, 'eval', withText);
    });
  }
}

/** Sends a command whose arguments are already flat strings/Buffers (see Scripts.run). */
function send(redis: Redis, name: string, argv: (string | Buffer)[]): Promise<unknown> {
  const command = new Command(name, [], { replyEncoding: 'utf8' });
  command.args = argv;
  if (redis.options.enableAutoPipelining) {
    // Calls the tick's pipeline's `sendCommand(command)`; its typings allow only command arguments.
    const args = [command] as unknown as string[];
    return executeWithAutoPipelining(redis, 'sendCommand', name, args, undefined);
  }
  return redis.sendCommand(command) as Promise<unknown>;
}

function commandName(def: ScriptDef): string {
  return `${def.name}:${def.version}`;
}
