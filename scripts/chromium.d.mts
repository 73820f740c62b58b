export function chromiumPath(): string | undefined;
export function chromiumAvailable(): boolean;
export const CHROMIUM_ARGS: string[];
