// Defaults that more than one top-level folder relies on, defined once.

/** Where the overlay data plane pins its per-network namespaces (agentd's --netns-dir). */
export const DEFAULT_NETNS_DIR = '/run/berth/netns';

/** The embedded DNS server's address inside every task's sandbox; tasks' resolv.conf names it. */
export const EMBEDDED_DNS_ADDRESS = '127.0.0.11';
