// Recipients: check what DANE Mail would do for an address, with the
// engine's chain of steps; recently seen recipients below.

import type { LookupView } from "../bindings/LookupView";
import type { RecentLookup } from "../bindings/RecentLookup";
import type { Step } from "../bindings/Step";
import type { StepItem } from "../bindings/StepItem";
import {
  announce, badge, busy, copyButton, detailsTable, errorBox, glyph, h, replace, splitAddresses, time,
} from "../dom";
import { ipc } from "../ipc";
import type { View } from "../view";

let lastInput = "";
let lastResults: LookupView[] = [];

let input: HTMLTextAreaElement;
let results: HTMLElement;
let recent: HTMLElement;
let err: ReturnType<typeof errorBox>;

export const recipientsView: View = {
  id: "recipients",
  title: "Recipients",
  async mount(root) {
    err = errorBox("recipient-error");
    input = h("textarea", {
      id: "recipient-input",
      testid: "recipient-input",
      rows: 2,
      spellcheck: "false",
      autocapitalize: "off",
      autocomplete: "off",
      "aria-describedby": "recipient-hint",
      onkeydown: (ev: Event) => {
        const k = ev as KeyboardEvent;
        if (k.key === "Enter" && !k.shiftKey && !k.isComposing) {
          k.preventDefault();
          void check(splitAddresses(input.value), checkBtn);
        }
      },
    });
    input.value = lastInput;
    input.addEventListener("input", () => (lastInput = input.value));
    const checkBtn = h("button", { type: "submit", class: "btn primary", testid: "recipient-check" }, "Check");
    results = h("div", { class: "stack", id: "lookup-results", "aria-live": "off" });
    recent = h("div", { id: "recent" });
    root.append(
      h(
        "form",
        {
          class: "card",
          novalidate: true,
          onsubmit: (ev: Event) => {
            ev.preventDefault();
            void check(splitAddresses(input.value), checkBtn);
          },
        },
        h("label", { for: "recipient-input" }, "Recipient addresses"),
        h("p", { id: "recipient-hint", class: "muted small" }, "One or more addresses, separated by spaces, commas or new lines. Enter checks; Shift+Enter starts a new line."),
        input,
        h("div", { class: "row" }, checkBtn),
        err.el,
      ),
      results,
      h("section", { class: "card", "aria-labelledby": "recent-h" }, h("h3", { id: "recent-h" }, "Recently seen recipients"), recent),
    );
    if (lastResults.length) drawResults(lastResults);
    await loadRecent();
  },
  async refresh() {
    await loadRecent();
  },
};

async function check(addresses: string[], btn: HTMLButtonElement | null): Promise<void> {
  err.show(null);
  if (addresses.length === 0) {
    err.show("Type at least one address.");
    input.focus();
    return;
  }
  await busy(btn, async () => {
    results.setAttribute("aria-busy", "true");
    replace(results, h("p", { class: "card muted" }, "Checking…"));
    try {
      const views = await ipc.lookup(addresses);
      lastResults = views;
      drawResults(views);
      announce(views.map((v) => `${v.address}: ${v.headline}`).join(". "));
    } catch (e) {
      replace(results);
      err.show((e as Error).message);
    } finally {
      results.removeAttribute("aria-busy");
    }
  });
  await loadRecent();
}

function drawResults(views: LookupView[]): void {
  replace(results, views.map(verdict));
}

function verdict(v: LookupView): HTMLElement {
  const again = h(
    "button",
    {
      type: "button",
      class: "btn",
      testid: "verdict-again",
      onclick: async (ev: Event) => {
        await busy(ev.currentTarget as HTMLButtonElement, async () => {
          try {
            const [fresh] = await ipc.lookup([v.address]);
            if (!fresh) return;
            lastResults = lastResults.map((x) => (x.address === v.address ? fresh : x));
            const el = verdict(fresh);
            art.replaceWith(el);
            el.querySelector<HTMLElement>('[data-testid="verdict-again"]')?.focus();
            announce(`${fresh.address}: ${fresh.headline}`);
          } catch (e) {
            err.show((e as Error).message);
          }
        });
        await loadRecent();
      },
    },
    "Check again",
  );
  const art = h(
    "article",
    {
      class: "card verdict",
      testid: "verdict",
      "data-address": v.address,
      "data-decision": v.decision,
      "data-smimea-status": v.smimea_status,
    },
    h("p", { class: "verdict-address" }, v.address),
    h("h3", { class: "verdict-headline", "data-state": v.decision }, glyph(v.decision), h("span", { testid: "verdict-headline" }, v.headline)),
    h("p", { class: "verdict-reason", testid: "verdict-reason" }, v.reason),
    v.usable_certificates.length
      ? h(
          "div",
          { class: "certs" },
          h("h4", null, v.usable_certificates.length === 1 ? "Certificate (SHA-256)" : "Certificates (SHA-256)"),
          h("ul", { class: "plain" }, v.usable_certificates.map((c) => h("li", null, h("code", { class: "hex", testid: "cert-sha256" }, c)))),
        )
      : null,
    h("h4", null, "How DANE Mail decided"),
    h("ol", { class: "steps" }, v.steps.map(step)),
    h("p", { class: "muted small" }, "Checked ", time(v.checked_at)),
    h("div", { class: "row" }, again, copyButton(`details for ${v.address}`, () => v.text, { testid: "verdict-copy" }, "Copy details")),
  );
  return art;
}

function step(s: Step): HTMLElement {
  return h(
    "li",
    { class: "step", "data-key": s.key, "data-state": s.state },
    h("p", { class: "step-head" }, h("span", { class: "step-title" }, s.title), " ", badge(s.state, s.verdict, { testid: "step-verdict" })),
    h("p", { class: "step-explanation" }, s.explanation),
    techDetails(s.details, s.title),
    s.items.length ? h("ul", { class: "step-items" }, s.items.map((i) => item(i))) : null,
  );
}

function item(i: StepItem): HTMLElement {
  return h(
    "li",
    { class: "step-item", "data-state": i.state },
    h("p", { class: "step-head" }, h("span", { class: "step-title" }, i.title), " ", badge(i.state, i.verdict)),
    h("p", { class: "step-explanation" }, i.explanation),
    techDetails(i.details, i.title),
  );
}

function techDetails(rows: { label: string; value: string }[], what: string): HTMLElement | null {
  const t = detailsTable(rows, `Technical details: ${what}`);
  return t ? h("details", { class: "tech" }, h("summary", null, "Technical details"), t) : null;
}

async function loadRecent(): Promise<void> {
  if (!recent?.isConnected) return;
  let list: RecentLookup[];
  try {
    list = await ipc.recentLookups();
  } catch (e) {
    replace(recent, h("p", { class: "error-text" }, (e as Error).message));
    return;
  }
  if (list.length === 0) {
    replace(recent, h("p", { class: "muted" }, "No recipients yet. Addresses you check here or send mail to appear here."));
    return;
  }
  replace(
    recent,
    h(
      "ul",
      { class: "recent plain" },
      list.map((r) =>
        h(
          "li",
          { "data-address": r.address, "data-decision": r.decision },
          h(
            "button",
            {
              type: "button",
              class: "recent-btn",
              testid: "recent-lookup",
              "data-focus": `recent-${r.address}`,
              onclick: (ev: Event) => {
                input.value = lastInput = r.address;
                void check([r.address], ev.currentTarget as HTMLButtonElement);
              },
            },
            h("span", { class: "recent-addr" }, r.address),
            h("span", { class: "recent-headline", "data-state": r.decision }, glyph(r.decision), r.headline),
            h("span", { class: "muted small" }, time(r.at)),
          ),
        ),
      ),
    ),
  );
}
