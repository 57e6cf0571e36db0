// The address this node is reached at: --advertise-addr, else the local address the kernel
// picks to reach the first manager (what Docker does when it can).
import dgram from 'node:dgram';
import { isIP } from 'node:net';

/** host and port of a manager address as config normalizes them: host:port or [v6]:port. */
export function splitHostPort(hostPort: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(hostPort);
  return m ? { host: m[1]!, port: Number(m[2]) } : undefined;
}

export async function localAddressToward(hostPort: string): Promise<string | undefined> {
  const hp = splitHostPort(hostPort);
  if (!hp || isIP(hp.host) === 0) return undefined;
  const host = hp.host;
  const sock = dgram.createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  try {
    // connect() on UDP sends nothing; it only asks the kernel for a route and a source address.
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(hp.port, host, () => resolve());
    });
    return sock.address().address;
  } catch {
    return undefined;
  } finally {
    sock.close();
  }
}
