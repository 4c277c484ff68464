/** hashpub's public API. Internals are not exported; test helpers live in `hashpub/testing`. */
export { createNode, type NodeDeps } from './node.js';
export type { HashpubNode } from './node-api.js';
export { defaultOptions, parseOptions, type Options, type HookFailurePolicy } from './options.js';
export { HashpubError, OptionsError, ERROR_STATUS, CLOSE_CODES, type ErrorCode } from './errors.js';
export type { ChannelConfig, Message, StreamPosition } from './protocol/types.js';
export type * from './hooks/hooks.js';
export { verifyWebhook, signWebhook } from './hooks/verify.js';
export { signToken } from './auth/tokens.js';
