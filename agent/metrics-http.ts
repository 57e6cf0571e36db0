// The optional TCP listener for Prometheus (--metrics-addr): GET /metrics only, the same text
// the control socket serves at /metrics. Nothing else of the control API is reachable here:
// the control socket stays root-only.
import http from 'node:http';
import { answer, RawResponse } from './control.js';
import { MetricsListenError } from './errors.js';
import type { AgentMetrics } from './metrics.js';

export async function startMetricsListener(addr: { host: string; port: number }, metrics: AgentMetrics): Promise<{ close(): Promise<void>; port: number }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('only /metrics is served here\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('GET /metrics\n');
      return;
    }
    void answer(async () => {
      const m = await metrics.render();
      return new RawResponse(m.contentType, m.body);
    }, res);
  });
  // A scraper that holds connections open must not keep agentd from stopping.
  server.keepAliveTimeout = 5_000;
  const where = addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new MetricsListenError(
          err.code === 'EADDRINUSE' ? 'E_METRICS_ADDR_IN_USE' : 'E_METRICS_LISTEN',
          err.code === 'EADDRINUSE'
            ? `cannot serve metrics on ${where}: the port is in use (another agentd or exporter?); pass another --metrics-addr`
            : `cannot serve metrics on ${where}: ${err.message} (is ${addr.host} an address of this host?)`,
          { cause: err, temporary: err.code === 'EADDRINUSE' },
        ),
      ),
    );
    server.listen({ host: addr.host, port: addr.port }, () => resolve());
  });
  const bound = server.address();
  return {
    port: typeof bound === 'object' && bound ? bound.port : addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
