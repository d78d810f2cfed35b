/** A tiny DOM builder (no innerHTML: every text is a text node). */

type Attrs = Record<string, string | number | boolean | undefined | EventListener>;
export type Child = Node | string | number | false | null | undefined;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

let uid = 0;
/** A fresh id for label/aria wiring. */
export function nextId(prefix: string): string {
  return `${prefix}-${++uid}`;
}

/** A labelled form field: label, control and an optional hint, wired with for/aria-describedby. */
export function field(label: string, control: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, hint?: string): HTMLDivElement {
  control.id ||= nextId('f');
  const hintEl = hint ? h('p', { class: 'hint', id: nextId('hint') }, hint) : undefined;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), hintEl, control);
}

/** Human time: "today 14:05", "yesterday 09:12" or a date. */
export function formatTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const day = (x: Date): string => x.toDateString();
  const hm = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (day(d) === day(new Date(now))) return `today ${hm}`;
  if (day(d) === day(new Date(now - 86_400_000))) return `yesterday ${hm}`;
  return `${d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' })} ${hm}`;
}

export function formatSeconds(s: number): string {
  const t = Math.max(0, Math.round(s));
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, '0')}`;
}

/** Offers bytes as a download. */
export function download(name: string, text: string, type = 'application/json'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Runs `render` (which replaces the children of `list`) and puts keyboard focus back on the
 * control that had it: the same button text in the item with the same `data-message-id` or
 * `data-contact`, so that a list refreshed by an arriving message does not throw focus away.
 */
export function keepFocus(list: Element, render: () => void): void {
  const active = document.activeElement as HTMLElement | null;
  const item = active && list.contains(active) ? active.closest<HTMLElement>('li') : null;
  const key = item?.dataset.messageId ?? item?.dataset.contact;
  const label = active?.textContent ?? '';
  render();
  if (!key) return;
  const again = list.querySelector<HTMLElement>(`li[data-message-id="${key}"], li[data-contact="${key}"]`);
  const target = [...(again?.querySelectorAll<HTMLElement>('button') ?? [])].find((b) => b.textContent === label) ?? again?.querySelector<HTMLElement>('button');
  target?.focus();
}
