// One place for the browser's path and flags: scripts/chromium.mjs, shared with the Node scripts.
export { CHROMIUM_ARGS, chromiumPath } from '../scripts/chromium.mjs';
