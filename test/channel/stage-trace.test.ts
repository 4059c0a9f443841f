import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Stage, dumpStageTrace, enableStageTrace, markStage } from '../../src/channel/stage-trace.js';

const dir = mkdtempSync(join(tmpdir(), 'stage-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function read(file: string): [string, (number | null)[]][] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as [string, (number | null)[]]);
}

describe('stage trace (bench instrumentation)', () => {
  it('records nothing until enabled, then the first mark of each stage per key, and dumps once', () => {
    const file = join(dir, 'a.jsonl');
    markStage('k0', Stage.SUBMIT);
    enableStageTrace();
    markStage('k1', Stage.SUBMIT);
    markStage('k1', Stage.READ);
    const firstRead = performance.timeOrigin + performance.now();
    markStage('k1', Stage.READ); // a redelivery does not move the mark
    markStage('k1', Stage.REPLY);
    dumpStageTrace(file);
    const rows = read(file);
    expect(rows.map(([k]) => k)).toEqual(['k1']);
    const marks = (rows[0] as [string, (number | null)[]])[1];
    expect(marks[Stage.ENQUEUED]).toBeNull();
    const [submit, read_, reply] = [marks[Stage.SUBMIT], marks[Stage.READ], marks[Stage.REPLY]] as number[];
    expect(submit).toBeLessThanOrEqual(read_ as number);
    expect(read_).toBeLessThanOrEqual(firstRead);
    expect(reply).toBeGreaterThanOrEqual(firstRead);
    // Dumping forgets what it wrote: a second dump appends only new marks.
    markStage('k2', Stage.SUBMIT);
    dumpStageTrace(file);
    expect(read(file).map(([k]) => k)).toEqual(['k1', 'k2']);
  });
});
