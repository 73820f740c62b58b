export type EngineName = 'chromium' | 'firefox' | 'webkit';
export const ENGINES: EngineName[];
export const PACKAGES: Record<EngineName, string[]>;
export interface ProjectSpec {
  name: string;
  engine: EngineName;
  backend: 'opfs' | 'idb' | 'auto';
  expectedBackend: 'opfs' | 'idb';
}
export const PROJECTS: ProjectSpec[];
export function selectProjects(patterns: string[]): ProjectSpec[];
export function which(name: string): string | undefined;
export function firefoxPath(): string | undefined;
export function webkitParts(): { driver?: string; miniBrowser?: string; xvfbRun?: string; display?: string };
export function engineStatus(engine: EngineName): {
  engine: EngineName;
  available: boolean;
  packages: string[];
  missing: string;
};
export function missingMessage(engine: EngineName): string;
export function chromiumPath(): string | undefined;
