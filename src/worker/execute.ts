import type { BlockDevice } from '../core/block-device';
import type { Reply, Request } from '../protocol/messages';

/**
 * One protocol request against the block device, whatever transport
 * carried it. `data`: the bytes of a write; for a read, where to put the
 * result (then the reply is empty: the bytes are in place; without it, a
 * new buffer is the reply).
 */
export function execute(dev: BlockDevice, req: Request, data?: Uint8Array): Promise<Reply | undefined> {
  switch (req.op) {
    case 'read':
      return data ? dev.readInto(req.offset, data) : dev.read(req.offset, req.length);
    case 'write':
      return dev.write(req.offset, data ?? new Uint8Array(0), { fua: req.fua });
    case 'flush':
      return dev.flush();
    case 'discard':
      return dev.discard(req.offset, req.length);
    case 'blockStatus':
      return dev.blockStatus(req.offset, req.length);
    case 'setCacheMode':
      return dev.setCacheMode(req.mode);
    case 'stats':
      return dev.stats();
    case 'close':
      return dev.close();
    case 'reset':
      return dev.reset();
  }
}
