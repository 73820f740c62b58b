import { CACHE_MODE_HELP, CACHE_MODES, type CacheMode } from '../index';

/** The element with this id (the page's markup is static: a missing one is a bug). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

export type StatusKind = 'info' | 'busy' | 'error';

/** The status line (role="status"): what is happening, or what went wrong in words. */
export function setStatus(
  kind: StatusKind,
  text: string,
  opts: { code?: string; action?: HTMLButtonElement } = {},
): void {
  const el = byId('status');
  el.dataset.kind = kind;
  const parts: Node[] = [];
  if (opts.code) {
    const code = document.createElement('span');
    code.className = 'code';
    code.textContent = opts.code;
    parts.push(code);
  }
  parts.push(document.createTextNode(text));
  if (opts.action) parts.push(opts.action);
  el.replaceChildren(...parts);
}

/** A button for the status line. */
export function actionButton(label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

/** The five cache modes as radio buttons, each with its one-line explanation. */
export function buildModeRadios(fieldset: HTMLElement, selected: CacheMode, onChange: (m: CacheMode) => void): void {
  for (const mode of CACHE_MODES) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.type = 'radio';
    input.name = 'cache';
    input.value = mode;
    input.checked = mode === selected;
    input.addEventListener('change', () => {
      if (input.checked) onChange(mode);
    });
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = mode;
    const help = document.createElement('span');
    help.className = 'help';
    help.textContent = CACHE_MODE_HELP[mode];
    label.append(input, name, help);
    fieldset.append(label);
  }
}

export function selectedMode(): CacheMode {
  const checked = document.querySelector<HTMLInputElement>('input[name="cache"]:checked');
  return (checked?.value ?? 'writeback') as CacheMode;
}

export function checkMode(mode: CacheMode): void {
  const input = document.querySelector<HTMLInputElement>(`input[name="cache"][value="${mode}"]`);
  if (input) input.checked = true;
}
