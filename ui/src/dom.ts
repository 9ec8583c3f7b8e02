// Tiny DOM builder and shared helpers. No framework: views build elements
// with h() and replace regions wholesale when data changes.

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (ev: Event) => unknown;
export type Attrs = Record<string, string | number | boolean | null | undefined | Handler>;

const PROPS = new Set(["value", "checked", "disabled", "selected", "open", "hidden"]);

/** Build an element. `testid` becomes data-testid, `class` the class
 * attribute, `on<event>` an event listener; false/null/undefined are skipped. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, val] of Object.entries(attrs)) {
      if (val === null || val === undefined) continue;
      if (typeof val === "function") {
        el.addEventListener(key.slice(2).toLowerCase(), val as EventListener);
      } else if (PROPS.has(key)) {
        (el as unknown as Record<string, unknown>)[key] = val;
      } else if (val === false) {
        continue;
      } else if (key === "testid") {
        el.setAttribute("data-testid", String(val));
      } else if (key === "class") {
        el.className = String(val);
      } else {
        el.setAttribute(key, val === true ? "" : String(val));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
}

/** Replace a region's children, keeping keyboard focus on the "same"
 * control when it is rebuilt (same data-testid / data-focus inside the
 * same data-queue-id / data-address scope). */
export function replace(region: Element, ...children: Child[]): void {
  const active = document.activeElement as HTMLElement | null;
  let selector: string | null = null;
  if (active && region.contains(active) && active !== region) {
    selector = focusSelector(active);
  }
  // Keep disclosure widgets the person opened (matched by summary text).
  const open = new Set(
    [...region.querySelectorAll("details[open] > summary")].map((s) => detailsKey(s as HTMLElement)),
  );
  region.replaceChildren();
  append(region, children);
  if (open.size) {
    region.querySelectorAll<HTMLElement>("details > summary").forEach((s) => {
      if (open.has(detailsKey(s))) (s.parentElement as HTMLDetailsElement).open = true;
    });
  }
  if (selector) {
    const again = region.querySelector<HTMLElement>(selector);
    if (again) again.focus({ preventScroll: true });
  }
}

function detailsKey(summary: HTMLElement): string {
  const scope = summary.closest<HTMLElement>("[data-queue-id],[data-address]");
  return `${scope?.dataset.queueId ?? scope?.dataset.address ?? ""}|${summary.textContent ?? ""}`;
}

function focusSelector(el: HTMLElement): string | null {
  const own = el.dataset.testid
    ? `[data-testid="${CSS.escape(el.dataset.testid)}"]`
    : el.dataset.focus
      ? `[data-focus="${CSS.escape(el.dataset.focus)}"]`
      : null;
  if (!own) return null;
  const scope = el.parentElement?.closest<HTMLElement>("[data-queue-id],[data-address]");
  if (!scope) return own;
  const attr = scope.hasAttribute("data-queue-id") ? "data-queue-id" : "data-address";
  return `[${attr}="${CSS.escape(scope.getAttribute(attr) ?? "")}"] ${own}`;
}

/** Visually hidden text, read by screen readers. */
export function sr(text: string): HTMLSpanElement {
  return h("span", { class: "sr-only" }, text);
}

/** A glyph next to a state word (the word always carries the meaning). */
export function glyph(state: string): HTMLSpanElement {
  const g: Record<string, string> = {
    ok: "✓", good: "✓", encrypt: "✓", delivered: "✓", listening: "✓",
    attention: "!", neutral: "•", plaintext: "✉", queued: "…", retrying: "↻", tempfail: "↻",
    error: "✕", bad: "✕", refuse: "✕", bounced: "✕", refused: "✕", failed: "✕", problem: "!",
    paused: "Ⅱ", "not-run": "–", checking: "…",
    reachable: "✓", unreachable: "✕", "not-configured": "–", unknown: "?",
  };
  return h("span", { class: "glyph", "aria-hidden": "true" }, g[state] ?? "•");
}

/** A word with its state: glyph + text, coloured by data-state. */
export function badge(state: string, word: string, extra: Attrs = {}): HTMLSpanElement {
  return h("span", { class: "badge", "data-state": state, ...extra }, glyph(state), word);
}

/** Label/value rows as a table. */
export function detailsTable(rows: { label: string; value: string }[], caption?: string): HTMLTableElement | null {
  if (rows.length === 0) return null;
  return h(
    "table",
    { class: "kv" },
    caption ? h("caption", { class: "sr-only" }, caption) : null,
    h("tbody", null, rows.map((r) => h("tr", null, h("th", { scope: "row" }, r.label), h("td", null, r.value)))),
  );
}

// ---- clipboard ----

export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall through to the textarea way */
  }
  const ta = h("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true", tabindex: "-1" });
  ta.value = text;
  document.body.appendChild(ta);
  const previous = document.activeElement as HTMLElement | null;
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  ta.remove();
  previous?.focus({ preventScroll: true });
  return ok;
}

let announcer: (msg: string) => void = () => {};
export function setAnnouncer(fn: (msg: string) => void): void {
  announcer = fn;
}
/** Say something in the aria-live region (and the visible status line). */
export function announce(msg: string): void {
  announcer(msg);
}

/** "Copy" button; `what` completes its accessible name ("Copy host"). */
export function copyButton(what: string, text: () => string, attrs: Attrs = {}, label = "Copy"): HTMLButtonElement {
  return h(
    "button",
    {
      type: "button",
      class: "btn small",
      ...attrs,
      onclick: async () => {
        const ok = await copyText(text());
        announce(ok ? `Copied ${what}` : `Could not copy ${what}; select the text and copy it by hand`);
      },
    },
    label,
    sr(` ${what}`),
  );
}

// ---- formatting ----

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});

/** Unix seconds → "14:05" today, else "3 Mar 2025, 14:05". */
export function fmtTime(secs: number | null | undefined): string {
  if (!secs) return "";
  const d = new Date(secs * 1000);
  const now = new Date();
  return d.toDateString() === now.toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

/** Unix seconds → ISO-ish machine value for <time datetime>. */
export function isoTime(secs: number): string {
  return new Date(secs * 1000).toISOString();
}

export function time(secs: number | null | undefined): HTMLTimeElement | string {
  if (!secs) return "";
  return h("time", { datetime: isoTime(secs) }, fmtTime(secs));
}

/** Unix seconds in the future → "in 5 min (14:05)". */
export function fmtWhen(secs: number): string {
  const delta = Math.round(secs - Date.now() / 1000);
  const at = fmtTime(secs);
  if (delta <= 30) return `now (${at})`;
  if (delta < 3600) return `in ${Math.round(delta / 60)} min (${at})`;
  if (delta < 86400) return `in ${Math.round(delta / 3600)} h (${at})`;
  return at;
}

export function fmtSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** "not-configured" → "not configured" (engine codes shown as they are). */
export function codeWords(code: string): string {
  return code.replace(/-/g, " ");
}

/** A region that shows an error with role=alert; empty hides it. */
export function errorBox(testid?: string): { el: HTMLDivElement; show(msg: string | null): void } {
  const el = h("div", { class: "error-box", role: "alert", testid, hidden: true });
  return {
    el,
    show(msg) {
      el.textContent = msg ?? "";
      el.hidden = !msg;
    },
  };
}

/** Run an async action with the button marked busy. aria-disabled rather
 * than disabled, so keyboard focus stays on the button; a second press
 * while busy is ignored (returns undefined). */
export async function busy<T>(btn: HTMLButtonElement | null, fn: () => Promise<T>): Promise<T | undefined> {
  if (btn?.getAttribute("aria-disabled") === "true") return undefined;
  if (btn) {
    btn.setAttribute("aria-disabled", "true");
    btn.setAttribute("aria-busy", "true");
  }
  try {
    return await fn();
  } finally {
    if (btn) {
      btn.removeAttribute("aria-disabled");
      btn.removeAttribute("aria-busy");
    }
  }
}

/** Split "a@x, b@y\nc@z" into addresses. */
export function splitAddresses(text: string): string[] {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}
