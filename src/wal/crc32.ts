/**
 * CRC-32 (IEEE, the zlib polynomial) over a byte range, slicing-by-8. On ~180-byte WAL records this is
 * faster than `zlib.crc32`, whose per-call binding overhead dominates short inputs (bench/wal measures
 * the encoder); test/wal/line-encoder.test.ts checks it against zlib.
 */
const TABLE = buildTable();

function buildTable(): Int32Array {
  const table = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n] as number;
    for (let k = 1; k < 8; k++) {
      c = (table[c & 0xff] as number) ^ (c >>> 8);
      table[k * 256 + n] = c;
    }
  }
  return table;
}

export function crc32Range(buf: Uint8Array, start: number, end: number): number {
  return crc32Final(crc32Update(CRC32_INIT, buf, start, end));
}

/** The CRC register before any byte (pass to {@link crc32Update}). */
export const CRC32_INIT = -1;

/** The register after `state` has absorbed the bytes: lets a constant prefix be hashed once. */
export function crc32Update(state: number, buf: Uint8Array, start: number, end: number): number {
  const t = TABLE;
  let c = state;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^
      t[512 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

/** The CRC-32 value of a register. */
export function crc32Final(state: number): number {
  return (state ^ -1) >>> 0;
}
