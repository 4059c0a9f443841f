/**
 * Splits a byte stream into newline-delimited lines. A line longer than `maxLineBytes` without a newline
 * is a protocol violation: `onOverflow` is called and the buffer dropped, so one bad peer cannot grow
 * memory without bound.
 */
export class LineSplitter {
  private pending = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOverflow: () => void,
    private readonly maxLineBytes = 64 * 1024,
  ) {}

  push(chunk: Buffer | string): void {
    const text = this.pending + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    let start = 0;
    let nl = text.indexOf('\n', start);
    while (nl !== -1) {
      if (nl > start) this.onLine(text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    this.pending = start === 0 ? text : text.slice(start);
    if (this.pending.length > this.maxLineBytes) {
      this.pending = '';
      this.onOverflow();
    }
  }
}
