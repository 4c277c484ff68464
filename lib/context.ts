import type { AcceptBudget } from './transport/accept-budget.js';
import type { Logger } from 'pino';
import type { TokenVerifier } from './auth/tokens.js';
import type { HookRunner } from './hooks/hook-runner.js';
import type { Metrics } from './metrics.js';
import type { Router } from './owner/owner-api.js';
import type { Options } from './options.js';
import type { ReplicationMode } from './replication/replication.js';
import type { PushService } from './session/push-service.js';

/** What the client edge (transports and REST) needs from the node; built by lib/node.ts. */
export interface EdgeContext {
  options: Options;
  log: Logger;
  metrics: Metrics;
  router: Router;
  push: PushService;
  tokens: TokenVerifier;
  hooks: HookRunner | null;
  /** The connection-accept budget (--accept-per-second): asked before a new connection costs anything. */
  accept: AcceptBudget;
  apiKey: string;
  /** Cluster view for GET /v1/cluster: this node's id, every admitted member, and the replication mode. */
  cluster(): { self: string; members: Array<{ id: string; url: string }>; replication: ReplicationMode };
}
