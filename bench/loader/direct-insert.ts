import { createReadStream } from 'node:fs';
import { request } from 'node:http';

/**
 * The ceiling's sender: one segment file POSTed as it is (`INSERT INTO wal_events FORMAT JSONEachRow`,
 * the file streamed into the request), no verification, no state. run.ts and profile.ts both use it, so
 * the sender whose CPU the ceiling pays is the same in both.
 */
export function postFile(clickhouseUrl: string, database: string, path: string): Promise<void> {
  const url = new URL(clickhouseUrl);
  url.searchParams.set('database', database);
  url.searchParams.set('query', 'INSERT INTO wal_events FORMAT JSONEachRow');
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST' }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(body))));
    });
    req.on('error', reject);
    createReadStream(path).pipe(req);
  });
}
