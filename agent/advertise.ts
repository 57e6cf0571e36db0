// The address this node is reached at: --advertise-addr, else the local address the kernel
// picks to reach the first manager (what Docker does when it can).
import dgram from 'node:dgram';
import { isIP } from 'node:net';

export async function localAddressToward(hostPort: string): Promise<string | undefined> {
  const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(hostPort);
  if (!m || isIP(m[1]!) === 0) return undefined;
  const host = m[1]!;
  const sock = dgram.createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  try {
    // connect() on UDP sends nothing; it only asks the kernel for a route and a source address.
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(Number(m[2]), host, () => resolve());
    });
    return sock.address().address;
  } catch {
    return undefined;
  } finally {
    sock.close();
  }
}
