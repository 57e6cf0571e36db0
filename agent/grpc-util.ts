// Thin promise wrappers over grpc-js and the TLS credentials a worker uses.
import * as grpc from '@grpc/grpc-js';

/** Server names SwarmKit's managers present (their certificates carry these SANs). */
export const CA_SERVER_NAME = 'swarm-ca';
export const MANAGER_SERVER_NAME = 'swarm-manager';

export function channelOptions(serverName: string): grpc.ChannelOptions {
  return {
    'grpc.ssl_target_name_override': serverName,
    'grpc.default_authority': serverName,
    'grpc.max_receive_message_length': 128 * 1024 * 1024,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  };
}

/** Used only for the first GetRootCACertificate: the answer is checked against the token's digest. */
export function unverifiedTls(): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
}

export function pinnedTls(rootCaPem: string, identity?: { keyPem: string; certPem: string }): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    Buffer.from(rootCaPem),
    identity ? Buffer.from(identity.keyPem) : null,
    identity ? Buffer.from(identity.certPem) : null,
  );
}

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

export function unary<Req, Res>(client: grpc.Client, method: UnaryMethod<Req, Res>, req: Req, timeoutMs: number, signal?: AbortSignal): Promise<Res> {
  return new Promise((resolve, reject) => {
    const call = method.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(res as Res);
    });
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function isGrpcError(err: unknown): err is grpc.ServiceError {
  return typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'number' && 'details' in err;
}

export function grpcCodeName(code: number): string {
  return grpc.status[code] ?? String(code);
}
