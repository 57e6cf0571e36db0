// Talks to the manager's CA and NodeCA services: fetch and pin the root CA, request a node
// certificate with a join token (or over mTLS to renew), and poll until it is issued.
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { swarmApi } from '../proto/index.js';
import { IssuanceState } from '../proto/enums.js';
import type { GetRootCACertificateResponse__Output } from '../proto/gen/docker/swarmkit/v1/GetRootCACertificateResponse.js';
import type { IssueNodeCertificateResponse__Output } from '../proto/gen/docker/swarmkit/v1/IssueNodeCertificateResponse.js';
import type { NodeCertificateStatusResponse__Output } from '../proto/gen/docker/swarmkit/v1/NodeCertificateStatusResponse.js';
import { JoinError } from '../errors.js';
import { CA_SERVER_NAME, channelOptions, grpcCodeName, isGrpcError, pinnedTls, unary, unverifiedTls } from '../grpc-util.js';
import { verifyRootCa, type JoinToken } from './join-token.js';

const ROOT_CA_TIMEOUT_MS = 10_000;
const ISSUE_TIMEOUT_MS = 15_000;
/** NodeCertificateStatus blocks on the manager until issued; each call gets this deadline. */
const STATUS_POLL_DEADLINE_MS = 5_000;
const STATUS_POLL_TOTAL_MS = 120_000;
const STATUS_BACKOFF_INITIAL_MS = 100;
const STATUS_BACKOFF_MAX_MS = 2_000;

function describeGrpc(err: unknown): string {
  return isGrpcError(err) ? `${grpcCodeName(err.code)}: ${err.details}` : (err as Error).message;
}

function joinErrorFrom(err: unknown, what: string, manager: string): JoinError {
  if (isGrpcError(err)) {
    if (err.details.includes('valid join token')) {
      return new JoinError('E_TOKEN_REJECTED', `the manager at ${manager} rejected the join token: ${err.details}. Get a current one with \`docker swarm join-token -q worker\`.`, { cause: err });
    }
    const temporary = [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED].includes(err.code);
    return new JoinError(temporary ? 'E_MANAGER_UNREACHABLE' : 'E_MANAGER_ERROR', `${what} at ${manager} failed: ${describeGrpc(err)}`, { cause: err, temporary });
  }
  return new JoinError('E_MANAGER_ERROR', `${what} at ${manager} failed: ${(err as Error).message}`, { cause: err });
}

/** Fetches the root CA without trusting anything yet, then pins it by the token's digest. */
export async function fetchRootCa(manager: string, token: JoinToken, signal?: AbortSignal): Promise<string> {
  const api = swarmApi();
  const client = new api.CA(manager, unverifiedTls(), channelOptions(CA_SERVER_NAME));
  try {
    const res = await unary<object, GetRootCACertificateResponse__Output>(client, client.GetRootCACertificate as never, {}, ROOT_CA_TIMEOUT_MS, signal).catch((err: unknown) => {
      throw joinErrorFrom(err, 'fetching the root CA', manager);
    });
    const pem = Buffer.from(res.certificate);
    verifyRootCa(token, pem);
    return pem.toString('utf8');
  } finally {
    client.close();
  }
}

export interface IssueRequest {
  manager: string;
  rootCaPem: string;
  csrPem: string;
  /** Join token for a first join; omitted for renewal, which authenticates with `identity`. */
  token?: string;
  identity?: { keyPem: string; certPem: string };
}

export interface Issued {
  nodeId: string;
  certPem: string;
}

/** IssueNodeCertificate, then NodeCertificateStatus with backoff until ISSUED or FAILED. */
export async function requestNodeCertificate(req: IssueRequest, signal?: AbortSignal): Promise<Issued> {
  const api = swarmApi();
  const client = new api.NodeCA(req.manager, pinnedTls(req.rootCaPem, req.identity), channelOptions(CA_SERVER_NAME));
  try {
    const issued = await unary<object, IssueNodeCertificateResponse__Output>(
      client,
      client.IssueNodeCertificate as never,
      { csr: Buffer.from(req.csrPem), token: req.token ?? '', availability: 0 },
      ISSUE_TIMEOUT_MS,
      signal,
    ).catch((err: unknown) => {
      throw joinErrorFrom(err, 'requesting a node certificate', req.manager);
    });
    const nodeId = issued.node_id;
    const deadline = Date.now() + STATUS_POLL_TOTAL_MS;
    let backoff = STATUS_BACKOFF_INITIAL_MS;
    for (;;) {
      let status: NodeCertificateStatusResponse__Output | undefined;
      try {
        status = await unary<object, NodeCertificateStatusResponse__Output>(client, client.NodeCertificateStatus as never, { node_id: nodeId }, STATUS_POLL_DEADLINE_MS, signal);
      } catch (err) {
        if (!(isGrpcError(err) && err.code === grpc.status.DEADLINE_EXCEEDED)) throw joinErrorFrom(err, 'polling the node certificate', req.manager);
      }
      const state = status?.status?.state;
      if (status && state === IssuanceState.ISSUED && status.certificate && status.certificate.certificate.length > 0) {
        return { nodeId, certPem: Buffer.from(status.certificate.certificate).toString('utf8') };
      }
      if (state === IssuanceState.FAILED) {
        throw new JoinError('E_CERT_FAILED', `the manager failed to sign the node certificate: ${status?.status?.err || 'no reason given'}`);
      }
      if (Date.now() > deadline) {
        throw new JoinError('E_CERT_TIMEOUT', `the node certificate for ${nodeId} was not issued within ${STATUS_POLL_TOTAL_MS / 1000} s (last state ${state ?? 'none'}); is a manager leader elected?`, { temporary: true });
      }
      await sleep(backoff, undefined, { signal });
      backoff = Math.min(backoff * 2, STATUS_BACKOFF_MAX_MS);
    }
  } finally {
    client.close();
  }
}
