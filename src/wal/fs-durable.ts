import { open, rename } from 'node:fs/promises';

/**
 * The two durability primitives sealing and recovery build on. A rename or a new file is durable only
 * once its directory is fsynced; a small file (manifest, high-water mark) is replaced atomically by
 * writing a temp file, fsyncing it and renaming it over the target.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export const TMP_SUFFIX = '.tmp';

/** Atomically replaces `path` with `content` (temp file, fsync, rename). The caller fsyncs the dir. */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const tmp = path + TMP_SUFFIX;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
