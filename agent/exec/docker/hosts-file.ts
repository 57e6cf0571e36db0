// The /etc/hosts of a task whose network namespace berth plumbs. Its sandbox is made without
// the engine's networking (no libnetwork sandbox, so no hosts file from the engine): berth
// writes the file Docker's worker would give the task, checked against a Docker 20.10 worker on
// overlays: the engine's defaults, the spec's extra hosts one name a line, then the task's
// address on each of its networks (not ingress) with its hostname, "fqdn short" when dotted.
const DEFAULTS = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];

export interface HostsFileInput {
  /** `name:ip`, as the engine's ExtraHosts take them. */
  extraHosts: readonly string[];
  /** The task's addresses, without prefix length, in its networks' order. */
  addresses: readonly string[];
}

export function renderHostsFile(input: HostsFileInput, hostname: string, domainname = ''): string {
  const fqdn = domainname === '' ? hostname : `${hostname}.${domainname}`;
  const dot = fqdn.indexOf('.');
  const names = dot > 0 ? `${fqdn} ${fqdn.slice(0, dot)}` : fqdn;
  const extra = input.extraHosts.map((e) => {
    const colon = e.indexOf(':');
    return `${e.slice(colon + 1)}\t${e.slice(0, colon)}`;
  });
  const own = hostname === '' ? [] : input.addresses.map((a) => `${a}\t${names}`);
  return `${[...DEFAULTS, ...extra, ...own].join('\n')}\n`;
}
