/// <reference types="@journeyapps/wa-sqlite" />
// wa-sqlite ships no types for FacadeVFS.js; facade.ts gives it its shape.
declare module '@journeyapps/wa-sqlite/src/FacadeVFS.js' {
  export const FacadeVFS: unknown;
}
