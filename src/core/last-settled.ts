/**
 * The last of a series of operations, as a promise that never rejects:
 * `current` while it runs, undefined once it has settled (unless a newer one
 * took its place). What waits on it waits for the operation, not its outcome.
 */
export class LastSettled {
  current: Promise<void> | undefined;

  /** Makes `op` the last one; returns the promise `current` now holds. */
  track(op: Promise<unknown>): Promise<void> {
    const settled = op.then(
      () => undefined,
      () => undefined,
    );
    this.current = settled;
    void settled.then(() => {
      if (this.current === settled) this.current = undefined;
    });
    return settled;
  }
}
