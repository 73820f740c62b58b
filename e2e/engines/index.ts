// The engine adapters: launchEngine(name, opts) gives pages with the one
// EnginePage interface, whatever drives the browser underneath.
import { engineStatus, missingMessage } from '../../scripts/engines.mjs';
import { launchChromium } from './chromium';
import { launchFirefox } from './firefox';
import type { EngineBrowser, EngineName, LaunchOptions } from './types';
import { launchWebKit } from './webkit';

export { ChromiumPage } from './chromium';
export type { EngineBrowser, EngineName, EnginePage, LaunchOptions } from './types';
export { engineStatus, missingMessage };

export function launchEngine(engine: EngineName, opts: LaunchOptions): Promise<EngineBrowser> {
  const status = engineStatus(engine);
  if (!status.available) throw new Error(missingMessage(engine));
  if (engine === 'chromium') return launchChromium(opts);
  if (engine === 'firefox') return launchFirefox(opts);
  return launchWebKit(opts);
}
