/**
 * Runs `fn` in a later task, after every microtask of this one: work issued
 * in one burst (a worker handling many requests from one wake-up) is then
 * gathered into one commit. A MessageChannel is as prompt as a task gets
 * (setTimeout may be clamped); Node and workers both have one.
 */
let channel: MessageChannel | undefined;
const queue: (() => void)[] = [];

export function nextTask(fn: () => void): void {
  queue.push(fn);
  if (queue.length > 1) return;
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => {
      for (const f of queue.splice(0)) f();
    };
    // Node keeps the process alive while a port is referenced: this one must not.
    (channel.port1 as { unref?: () => void }).unref?.();
  }
  channel.port2.postMessage(0);
}
