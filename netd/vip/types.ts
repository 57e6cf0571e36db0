// The contract every VIP load balancer implements (IPVS, nftables), and the one behaviour both
// give. A load balancer lives in one network namespace — berth's namespace of one overlay
// network, which plays Docker's `lb_<network>` / `ingress_sbox` — and balances new connections
// to the service addresses it is given across backends on the network, wherever they run.
//
// Behaviour (the same for every backend; the suite runs one scenario file against each):
// - Traffic arriving in the namespace for a service's VIP, any port, TCP and UDP, goes to one of
//   the service's backends with weight > 0, ports unchanged, round robin by weight.
// - Traffic arriving for a published port (the routing mesh: `ports`) on any address of the
//   namespace goes the same way, published port unchanged (the backend's sandbox redirects it
//   to the target port, as Docker's do).
// - Forwarded packets leave with `sourceAddress` as their source (SNAT), so replies come back
//   through this namespace whichever node the backend is on.
// - weight 0 = draining: no new connections; established ones keep flowing until they end.
//   A backend absent from the spec is gone: new connections never reach it (IPVS also drops
//   its established ones, as expire_nodest_conn does; nftables leaves conntrack alone).
// - A service with no backend with weight > 0 rejects new connections (ICMP unreachable / RST),
//   rather than black-holing them.
// - The VIPs and the source address are local addresses of the namespace (the overlay plane's
//   setLoadBalancer puts them on br0 before apply); a backend manages no addresses. Backends
//   are addresses inside `subnet` (the SNAT covers only it). Weights are integers 0..65535.
// - apply() is declarative and idempotent: it makes the namespace's state exactly the spec
//   (one atomic change where the kernel allows), diffing against what is there, so established
//   connections to backends that stay are never reset. Everything berth adds is berth's own
//   (its own nftables table, IPVS services marked by berth's fwmarks) and nothing else in the
//   namespace is touched.

export type VipBackendKind = 'ipvs' | 'nftables';

export type LbProtocol = 'tcp' | 'udp';

/** A routing-mesh port: traffic for it on any of the namespace's addresses is balanced. */
export interface LbPort {
  protocol: LbProtocol;
  /** The published port (1..65535); kept as the destination port toward the backend. */
  port: number;
}

export interface LbBackend {
  /** The task's IPv4 address on the network (no prefix). */
  ip: string;
  /** 0 = draining (no new connections); Docker's tasks all weigh 1. */
  weight: number;
}

export interface LbService {
  /** Stable identity within the namespace (Docker's service id, or `<service>/ingress`). */
  key: string;
  /** The service's VIP on this network (IPv4, no prefix); absent for an ingress-only entry. */
  vip?: string;
  ports: readonly LbPort[];
  backends: readonly LbBackend[];
}

/** Idle timeouts of balanced connections, in seconds (IPVS: its per-namespace timeouts;
 *  nftables: the conntrack timeouts it applies to balanced connections). */
export interface LbTimeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

/** Kubernetes' choice for established TCP (a day), the kernel's for FIN and UDP. Docker leaves
 *  IPVS at 900 s, which closes idle connections users expect to keep (moby/moby#31208). */
export const DEFAULT_LB_TIMEOUTS: LbTimeouts = { tcp: 86_400, tcpFin: 120, udp: 300 };

/** The whole load-balancing state of one namespace. */
export interface LoadBalancerSpec {
  /** The namespace (a pinned netns file). */
  netnsPath: string;
  /** This node's address on the network (the SNAT source, Node.Attachments' LB address). */
  sourceAddress: string;
  /** The network's subnet (CIDR): backends live in it. */
  subnet: string;
  services: readonly LbService[];
  /** Keys of the services that may differ from the previous apply to this namespace; every other
   *  service is identical to last time (callers that cannot tell leave it out). Lets a backend
   *  check and plan only these. */
  changed?: ReadonlySet<string>;
}

export interface VipBackendStatus {
  kind: VipBackendKind;
  namespaces: number;
  services: number;
  backends: number;
  /** apply() calls and the kernel changes they made. */
  applies: number;
  lastApplyMs: number | undefined;
}

export interface VipBackend {
  readonly kind: VipBackendKind;
  /** Makes the namespace's load balancing exactly `spec`. Validates everything before any change
   *  (a bad spec throws NetdValidationError and changes nothing). */
  apply(spec: LoadBalancerSpec): Promise<void>;
  /** Removes berth's services and rules from the namespace (it stays; the namespace-wide sysctls
   *  set for balancing stay too — the namespace is berth's and goes with its network); idempotent. */
  remove(netnsPath: string): Promise<void>;
  status(): VipBackendStatus;
  /** Closes sockets; leaves the kernel state running. */
  close(): Promise<void>;
}

export interface VipBackendOptions {
  timeouts?: Partial<LbTimeouts>;
}
