import { randomBytes } from 'node:crypto';

/** A fresh stream epoch: a channel gets a new one when it starts, or when its history was lost. */
export const newEpoch = (): string => randomBytes(4).toString('hex');
