/**
 * A real nginx on the loopback for remote-target tests: a free port, its config, logs and temp folders in a temp
 * prefix (no root needed, never the system's nginx on :80), serving one folder. The access log records every
 * request's status, Range header and body bytes sent, so a test counts what an audit transferred.
 *
 *   const web = await startNginx(folder, { maxRanges0: true });
 *   hostleak(['scan', `${web.url}/leaky.raw`]); web.bodyBytes('/leaky.raw'); await web.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Nginx {
  url: string;
  port: number;
  /** Requests logged so far (method, path, status, range header, body bytes sent). */
  requests(): Array<{ method: string; path: string; status: number; range: string; bytes: number }>;
  /** Body bytes sent for requests of `urlPath` (all of them with no argument). */
  bodyBytes(urlPath?: string): number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, errLog: string): Promise<void> {
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${existsSync(errLog) ? readFileSync(errLog, 'utf8') : ''}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nginx did not start listening in 15 s');
}

export async function startNginx(root: string, opts: { maxRanges0?: boolean; extra?: string } = {}): Promise<Nginx> {
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'hostleak-nginx-'));
  const port = await freePort();
  const access = path.join(prefix, 'access.log');
  const errLog = path.join(prefix, 'error.log');
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${errLog} info;
events { worker_connections 64; }
http {
  access_log off;
  log_format counted '$request_method\\t$uri\\t$status\\t$http_range\\t$body_bytes_sent';
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  types { application/octet-stream raw qcow2; }
  server {
    listen 127.0.0.1:${port};
    root ${root};
    access_log ${access} counted;
    ${opts.maxRanges0 ? 'max_ranges 0;' : ''}
    ${opts.extra ?? ''}
  }
}
`,
  );
  const child = spawn('nginx', ['-p', prefix, '-c', conf, '-e', errLog, '-g', 'daemon off;'], { stdio: 'ignore' });
  await waitForPort(port, child, errLog);
  const requests = () =>
    (existsSync(access) ? readFileSync(access, 'utf8') : '')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [method, p, status, range, bytes] = l.split('\t');
        return { method: method!, path: p!, status: Number(status), range: range === '-' ? '' : range!, bytes: Number(bytes) };
      });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    bodyBytes: (urlPath) => requests().filter((r) => urlPath === undefined || r.path === urlPath).reduce((n, r) => n + r.bytes, 0),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGQUIT');
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
