import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { GatewayError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { type ClickHouseFeatures, queryRows } from './clickhouse-features.js';
import { sqlString } from './clickhouse-connect.js';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sha256: string;
  /** Feature the server must have (`-- @requires <name>`), or undefined. */
  readonly requires: string | undefined;
  readonly statements: readonly string[];
}

/** Reads `NNNN_name.sql` files in version order. Statements end with `;` at the end of a line. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .map((file) => /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file))
    .filter((m): m is RegExpExecArray => m !== null)
    .map(([file, version, name]) => {
      const text = readFileSync(join(dir, file as string), 'utf8');
      const requires = /^--\s*@requires\s+([a-z_]+)\s*$/m.exec(text)?.[1];
      const body = text
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('--'))
        .join('\n');
      const statements = body
        .split(/;\s*$/m)
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      return {
        version: Number(version),
        name: name as string,
        sha256: createHash('sha256').update(text).digest('hex'),
        requires,
        statements,
      };
    })
    .sort((a, b) => a.version - b.version);
}

const BOOTSTRAP = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version UInt32, name String, sha256 String, applied_ns UInt64
) ENGINE = ReplacingMergeTree() ORDER BY version`;

/**
 * Applies the migrations the database lacks, at loader start-up. Idempotent and safe when several loaders
 * start at once: every statement is itself idempotent (`IF NOT EXISTS`, settings), and `schema_migrations`
 * is a ReplacingMergeTree keyed by version, so a migration two loaders both applied is recorded once.
 * A recorded migration whose file changed since is refused (GW_ERR_CLICKHOUSE_MIGRATION): shipped
 * migrations are never edited. A migration that `@requires` a feature the server lacks is skipped and
 * reconsidered at every start (an upgraded server then gets it).
 */
export class Migrator {
  constructor(
    private readonly admin: ClickHouseClient,
    private readonly db: ClickHouseClient,
    private readonly database: string,
    private readonly logger: Logger,
  ) {}

  async apply(features: ClickHouseFeatures, migrations: Migration[] = loadMigrations()): Promise<number[]> {
    await this.exec(this.admin, `CREATE DATABASE IF NOT EXISTS ${this.database}`, 0);
    await this.exec(this.db, BOOTSTRAP, 0);
    const applied = new Map(
      (
        await queryRows<{ version: number; sha256: string }>(
          this.db,
          'SELECT version, any(sha256) AS sha256 FROM schema_migrations GROUP BY version',
        )
      ).map((row) => [Number(row.version), row.sha256]),
    );
    const done: number[] = [];
    for (const migration of migrations) {
      const recorded = applied.get(migration.version);
      if (recorded !== undefined) {
        if (recorded !== migration.sha256) {
          throw new GatewayError(
            'GW_ERR_CLICKHOUSE_MIGRATION',
            `migration ${migration.version}_${migration.name} changed after it was applied`,
            { version: migration.version },
          );
        }
        continue;
      }
      if (migration.requires && !features.names.has(migration.requires)) {
        this.logger.info(
          { version: migration.version, requires: migration.requires, server: features.version },
          'migration skipped: server lacks the feature',
        );
        continue;
      }
      for (const statement of migration.statements) await this.exec(this.db, statement, migration.version);
      await this.exec(
        this.db,
        `INSERT INTO schema_migrations (version, name, sha256, applied_ns) VALUES (${migration.version}, ${sqlString(
          migration.name,
        )}, ${sqlString(migration.sha256)}, ${BigInt(Date.now()) * 1_000_000n})`,
        migration.version,
      );
      this.logger.info({ version: migration.version, name: migration.name }, 'migration applied');
      done.push(migration.version);
    }
    return done;
  }

  private async exec(client: ClickHouseClient, query: string, version: number): Promise<void> {
    try {
      await client.command({ query });
    } catch (err) {
      // Two loaders starting at once may race on the same CREATE … IF NOT EXISTS: the loser's error is
      // the winner's success.
      if (/IF NOT EXISTS/i.test(query) && /already exists/i.test(String(err))) return;
      throw new GatewayError(
        'GW_ERR_CLICKHOUSE_MIGRATION',
        `migration ${version}: ${err instanceof Error ? err.message : String(err)}`,
        { version },
        { cause: err },
      );
    }
  }
}
