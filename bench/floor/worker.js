let ctrl;
self.onmessage = async (e) => {
  if (e.data.pm !== undefined) {
    postMessage(e.data);
    return;
  }
  ctrl = new Int32Array(e.data);
  postMessage('ready');
  let seen = 0;
  for (;;) {
    const r = Atomics.waitAsync(ctrl, 0, seen);
    if (r.async) await r.value;
    seen = Atomics.load(ctrl, 0);
    Atomics.store(ctrl, 1, seen);
    Atomics.notify(ctrl, 1);
  }
};
