import type { IncomingMessage, ServerResponse } from 'node:http';

/** Deterministic bytes of `seed`: what /base-control/NAME?size=N&seed=S serves. */
export function baseBytes(size: number, seed: number): Uint8Array;
/** Answers /base/, /base-control/ and /base-stats/ requests; false for any other path. */
export function handleBaseImage(req: IncomingMessage, res: ServerResponse, headers?: Record<string, string>): boolean;
