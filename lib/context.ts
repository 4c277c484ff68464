import type { AcceptBudget } from './transport/accept-budget.js';
import type { Logger } from 'pino';
import type { ApiKeys } from './auth/api-keys.js';
import type { Limits } from './limits/limits.js';
import type { TokenVerifier } from './auth/tokens.js';
import type { HookRunner } from './hooks/hook-runner.js';
import type { Metrics } from './metrics.js';
import type { Router } from './owner/owner-api.js';
import type { Options } from './options.js';
import type { PageRoutes } from './pages/pages.js';
import type { ReplicationMode } from './replication/replication.js';
import type { PushService } from './session/push-service.js';
import type { TrustedProxies } from './transport/client-address.js';
import type { ClusterStats } from './stats/stats.js';

/** What the client edge (transports and REST) needs from the node; built by lib/node.ts. */
export interface EdgeContext {
  options: Options;
  log: Logger;
  metrics: Metrics;
  router: Router;
  push: PushService;
  tokens: TokenVerifier;
  hooks: HookRunner | null;
  /** `--trusted-proxies`: whose X-Forwarded-For names the client (transport/client-address.ts). */
  proxies: TrustedProxies;
  /** The REST API keys and their scopes. */
  apiKeys: ApiKeys;
  /** What a client may still do (refused before any work). */
  limits: Limits;
  /** The connection-accept budget (--accept-per-second): asked before a new connection costs anything. */
  accept: AcceptBudget;
  /** Cluster view for GET /v1/cluster: this node's id, every admitted member, and the replication mode. */
  cluster(): { self: string; members: Array<{ id: string; url: string }>; replication: ReplicationMode };
  /** GET /v1/stats: every member's figures (asked over the node links) and their sums; with the chart's samples if asked. */
  stats(withHistory: boolean): Promise<ClusterStats>;
  /** The dashboard, and the demo pages in demo mode (lib/pages/). */
  pages: PageRoutes;
}
