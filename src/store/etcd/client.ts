/** The etcd3 client for a cluster: every member's address, TLS, a user, per-call deadlines. */
import { circuitBreaker, ConsecutiveBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, GRPCUnavailableError, isRecoverableError } from 'etcd3';
import { readTlsFiles, type EtcdConnectionOptions } from './options.js';

export function createEtcdClient(options: EtcdConnectionOptions, callTimeoutMs: number): Etcd3 {
  const scheme = options.tls === undefined ? 'http' : 'https';
  return new Etcd3({
    hosts: options.endpoints.map((endpoint) => `${scheme}://${endpoint}`),
    ...(options.tls === undefined ? {} : { credentials: readTlsFiles(options.tls) }),
    ...(options.auth === undefined ? {} : { auth: { username: options.auth.username, password: options.auth.password } }),
    dialTimeout: callTimeoutMs,
    // Unary calls get a deadline (a dead member must not hang a request); streams (watch,
    // keep-alive) live as long as they are wanted.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      // A member is skipped for a second after three failed connections. Only "unavailable"
      // counts: a live member without a leader times out, yet still serves local reads.
      host: () => circuitBreaker(handleWhen((err) => err instanceof GRPCUnavailableError), {
        halfOpenAfter: 1_000,
        breaker: new ConsecutiveBreaker(3),
      }),
      // Other members on a transient failure; the store retries with back-off on top.
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 2 }),
    },
    grpcOptions: {
      // Notice a member that vanished without a TCP reset (kill -9 of a VM, a dropped path).
      // Not more often: etcd drops a connection that pings more than every 5 s
      // (--grpc-keepalive-min-time), and every watch on it with the connection.
      'grpc.keepalive_time_ms': 15_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
    },
  });
}
