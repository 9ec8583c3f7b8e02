// Shell of the window: header, nav, routing, the live region, and the
// engine's event stream (→ re-read what the current view shows).

import "./style.css";

import type { ServiceEvent } from "./bindings/ServiceEvent";
import type { Status } from "./bindings/Status";
import { h, replace, setAnnouncer } from "./dom";
import { ipc, onServiceEvent } from "./ipc";
import type { View, ViewId } from "./view";
import { activityView } from "./views/activity";
import { firstRun } from "./views/firstrun";
import { keysView } from "./views/keys";
import { recipientsView } from "./views/recipients";
import { settingsView } from "./views/settings";
import { statusView } from "./views/status";

const VIEWS: View[] = [statusView, recipientsView, activityView, keysView, settingsView];

const live = h("div", { id: "live", class: "sr-only", "aria-live": "polite", "aria-atomic": "true", testid: "live" });
const toast = h("p", { class: "toast", "aria-hidden": "true", hidden: true });
const navEl = h("nav", { "aria-label": "Main" });
const mainEl = h("main", { id: "main" });
const header = h(
  "header",
  { class: "top" },
  h("h1", null, h("span", { class: "logo", "aria-hidden": "true" }, "✉"), "DANE Mail"),
  h("p", { class: "top-state", id: "top-state" }),
);

let current: View = statusView;
let inFirstRun = false;
let lastSentence = "";
let toastTimer = 0;

setAnnouncer((msg) => {
  // Re-set even if unchanged, so a repeated message is read again.
  live.textContent = "";
  window.setTimeout(() => (live.textContent = msg), 30);
  toast.textContent = msg;
  toast.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (toast.hidden = true), 3000);
});

function drawNav(): void {
  replace(
    navEl,
    h(
      "ul",
      { class: "nav" },
      VIEWS.map((v) =>
        h(
          "li",
          null,
          h(
            "button",
            {
              type: "button",
              testid: `nav-${v.id}`,
              "data-view": v.id,
              "aria-current": v === current ? "page" : null,
              onclick: () => void show(v.id, true),
            },
            v.title,
          ),
        ),
      ),
    ),
  );
}

// Arrow keys move between the nav buttons (Tab still works as usual).
navEl.addEventListener("keydown", (ev) => {
  const buttons = [...navEl.querySelectorAll<HTMLButtonElement>("button")];
  const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
  if (i < 0) return;
  let j = -1;
  if (ev.key === "ArrowDown" || ev.key === "ArrowRight") j = (i + 1) % buttons.length;
  else if (ev.key === "ArrowUp" || ev.key === "ArrowLeft") j = (i - 1 + buttons.length) % buttons.length;
  else if (ev.key === "Home") j = 0;
  else if (ev.key === "End") j = buttons.length - 1;
  if (j >= 0) {
    ev.preventDefault();
    buttons[j]?.focus();
  }
});

async function show(id: ViewId, focusHeading: boolean): Promise<void> {
  current = VIEWS.find((v) => v.id === id) ?? statusView;
  document.body.dataset.view = current.id;
  if (location.hash !== `#${current.id}`) history.replaceState(null, "", `#${current.id}`);
  drawNav();
  toast.hidden = true;
  const title = h("h2", { id: "view-title", tabindex: "-1" }, current.title);
  const root = h("div", { class: "view", "data-view": current.id });
  replace(mainEl, title, root);
  mainEl.setAttribute("aria-labelledby", "view-title");
  document.title = `${current.title} — DANE Mail`;
  if (focusHeading) title.focus();
  await current.mount(root);
}

function drawTopState(s: Status): void {
  const top = document.getElementById("top-state");
  if (top) {
    top.setAttribute("data-state", s.state);
    top.textContent = s.sentence;
  }
}

/** Words from the event itself, when it carries the engine's words. */
function eventWords(ev: ServiceEvent): string | null {
  switch (ev.kind) {
    case "held":
      return `${ev.address}: ${ev.reason}`;
    case "retrying":
      return `${ev.recipient}: ${ev.detail}`;
    case "bounced":
      return `${ev.recipient}: ${ev.detail}`;
    case "self-check":
      return `${ev.check.address}: ${ev.check.detail}`;
    default:
      return null;
  }
}

let pending: ServiceEvent | null = null;
let timer = 0;
function onEvent(ev: ServiceEvent): void {
  if (inFirstRun) return;
  const words = eventWords(ev);
  // Coalesce bursts (a message to ten recipients) into one re-read.
  pending = pending && pending.kind !== ev.kind ? { kind: "status" } : ev;
  window.clearTimeout(timer);
  timer = window.setTimeout(async () => {
    const e = pending;
    pending = null;
    try {
      const s = await ipc.status();
      drawTopState(s);
      if (s.sentence !== lastSentence && !words) {
        lastSentence = s.sentence;
        announceSoft(s.sentence);
      }
      lastSentence = s.sentence;
    } catch {
      /* the view shows its own errors */
    }
    await current.refresh(e);
  }, 150);
  if (words) announceSoft(words);
}

function announceSoft(msg: string): void {
  live.textContent = msg;
}

async function boot(): Promise<void> {
  document.body.replaceChildren(
    h("a", { class: "skip", href: "#main" }, "Skip to content"),
    header,
    h("div", { class: "layout" }, navEl, mainEl),
    live,
    toast,
  );
  let status: Status;
  try {
    status = await ipc.status();
  } catch (e) {
    navEl.hidden = true;
    replace(
      mainEl,
      h("h2", null, "DANE Mail is not answering"),
      h("p", { class: "error-box", role: "alert" }, (e as Error).message),
      h("button", { type: "button", class: "btn", onclick: () => void boot() }, "Try again"),
    );
    return;
  }
  drawTopState(status);
  lastSentence = status.sentence;
  void onServiceEvent(onEvent).catch(() => {
    /* no event stream (e.g. a plain browser): views still work on demand */
  });
  if (!status.first_run_done) {
    inFirstRun = true;
    navEl.hidden = true;
    mainEl.replaceChildren();
    mainEl.setAttribute("aria-label", "Setup");
    mainEl.removeAttribute("aria-labelledby");
    document.title = "Setup — DANE Mail";
    await firstRun(mainEl, async () => {
      inFirstRun = false;
      navEl.hidden = false;
      mainEl.removeAttribute("aria-label");
      await show("status", true);
    });
    return;
  }
  const fromHash = location.hash.slice(1) as ViewId;
  await show(VIEWS.some((v) => v.id === fromHash) ? fromHash : "status", false);
}

void boot();
