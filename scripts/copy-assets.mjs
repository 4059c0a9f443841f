// Copies non-TypeScript runtime assets (Lua scripts, SQL migrations) next to the compiled JavaScript.
import { cpSync, existsSync } from 'node:fs';

const assets = ['src/commands', 'loaders/migrations'];
for (const dir of assets) {
  if (existsSync(dir)) cpSync(dir, `dist/${dir}`, { recursive: true });
}
