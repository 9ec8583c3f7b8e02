// Keys: own identities, the SMIMEA record to publish for each, the
// publication self-check, generate / import / export.

import type { KeyView } from "../bindings/KeyView";
import type { SelfCheckView } from "../bindings/SelfCheckView";
import { announce, badge, busy, copyButton, errorBox, h, replace, time } from "../dom";
import { ipc, pickOpenPath, pickSavePath } from "../ipc";
import type { View } from "../view";

let selected: string | null = null;
/** Results of "Check publication" in this session, per address. */
const checks = new Map<string, SelfCheckView>();

let listEl: HTMLElement;
let panel: HTMLElement;
let err: ReturnType<typeof errorBox>;

export const keysView: View = {
  id: "keys",
  title: "Your keys",
  async mount(root) {
    err = errorBox("keys-error");
    listEl = h("div", { id: "key-list", "aria-busy": "true" }, h("p", null, "Loading…"));
    panel = h("div", { id: "key-panel" });
    root.append(
      err.el,
      h("section", { class: "card", "aria-labelledby": "keys-list-h" }, h("h3", { id: "keys-list-h" }, "Your addresses"), listEl),
      panel,
      h(
        "div",
        { class: "grid2" },
        generateForm("h3", async (k) => {
          selected = k.address;
          await load(true);
        }),
        importForm("h3", async (k) => {
          selected = k.address;
          await load(true);
        }),
      ),
    );
    await load(false);
  },
  async refresh(ev) {
    if (ev?.kind === "self-check") checks.set(ev.check.address, ev.check);
    await load(false);
  },
};

async function load(redrawPanel: boolean): Promise<void> {
  let keys: KeyView[];
  try {
    keys = await ipc.keysList();
    err.show(null);
  } catch (e) {
    err.show((e as Error).message);
    listEl.removeAttribute("aria-busy");
    return;
  }
  listEl.removeAttribute("aria-busy");
  if (!selected || !keys.some((k) => k.address === selected)) {
    const newest = [...keys].sort((a, b) => b.expires_at - a.expires_at)[0];
    selected = newest ? newest.address : null;
    redrawPanel = true;
  }
  if (keys.length === 0) {
    replace(listEl, h("p", { testid: "keys-empty" }, "You have no key yet. Make one below, or import one you already have."));
    replace(panel);
    return;
  }
  replace(
    listEl,
    h(
      "ul",
      { class: "keys plain" },
      keys.map((k) => {
        const sc = checks.get(k.address) ?? k.self_check;
        const isSel = k.address === selected;
        return h(
          "li",
          { class: "key-row", testid: "key-row", "data-address": k.address, "aria-current": isSel ? "true" : null },
          h(
            "div",
            { class: "key-main" },
            h("p", { class: "key-addr" }, k.address, isSel ? h("span", { class: "tag" }, "shown below") : null),
            h("p", { class: "muted small" }, `${k.algorithm} · expires ${k.expires}`),
            h(
              "p",
              { class: "small", testid: "key-selfcheck", "data-status": sc ? sc.status : "unchecked" },
              sc ? badge(sc.status === "ok" ? "ok" : "attention", sc.detail) : h("span", { class: "muted" }, "Publication not checked yet"),
            ),
          ),
          isSel
            ? null
            : h(
                "button",
                {
                  type: "button",
                  class: "btn small",
                  testid: "key-select",
                  onclick: async () => {
                    selected = k.address;
                    await load(true);
                    panel.querySelector<HTMLElement>("h3")?.focus();
                  },
                },
                "Show record",
                h("span", { class: "sr-only" }, ` for ${k.address}`),
              ),
        );
      }),
    ),
  );
  if (redrawPanel || !panel.querySelector(`[data-address="${CSS.escape(selected ?? "")}"]`)) {
    const k = keys.find((x) => x.address === selected);
    if (k) replace(panel, await recordPanel(k, "h3"));
  } else if (selected) {
    // Keep the panel; only refresh its self-check line from new data.
    const k = keys.find((x) => x.address === selected);
    const sc = checks.get(selected) ?? k?.self_check ?? null;
    const slot = panel.querySelector<HTMLElement>(".record-status-slot");
    if (slot && sc && slot.getAttribute("data-busy") !== "true") replace(slot, statusBox(sc));
  }
}

function statusBox(sc: SelfCheckView): HTMLElement {
  return h(
    "div",
    { class: "record-status", testid: "record-status", "data-status": sc.status, "data-state": sc.status === "ok" ? "ok" : "attention" },
    h("p", null, badge(sc.status === "ok" ? "ok" : "attention", sc.detail, { testid: "record-status-detail" })),
    sc.advice ? h("p", { class: "advice", testid: "record-status-advice" }, sc.advice) : null,
    h("p", { class: "muted small" }, "Checked ", time(sc.checked_at)),
  );
}

/** The record to publish for one key, with copy buttons, "Check
 * publication" and "Export certificate…". Used by Keys and the wizard. */
export async function recordPanel(k: KeyView, heading: "h2" | "h3", intro = true): Promise<HTMLElement> {
  const sub = heading === "h2" ? "h3" : "h4";
  const perr = errorBox("record-error");
  const slot = h("div", { class: "record-status-slot", "aria-live": "polite" });
  const initial = checks.get(k.address) ?? k.self_check;
  if (initial) slot.append(statusBox(initial));

  let recordBody: HTMLElement;
  try {
    const r = await ipc.keysRecord(k.address);
    recordBody = h(
      "div",
      { class: "records" },
      h("p", null, "Owner name: ", h("code", { class: "wrap", testid: "record-owner" }, r.owner)),
      h(sub, null, "The record"),
      h("pre", { class: "record", testid: "record-text", tabindex: "0", "aria-label": "SMIMEA record" }, r.presentation),
      h("div", { class: "row" }, copyButton("SMIMEA record", () => r.presentation, { testid: "record-copy" })),
      h(sub, null, "Generic form, for DNS hosts that do not offer the SMIMEA type"),
      h("pre", { class: "record", testid: "record-generic", tabindex: "0", "aria-label": "SMIMEA record, generic form" }, r.generic),
      h("div", { class: "row" }, copyButton("generic form", () => r.generic, { testid: "record-generic-copy" })),
    );
  } catch (e) {
    recordBody = h("p", { class: "error-text" }, (e as Error).message);
  }

  const checkBtn = h(
    "button",
    {
      type: "button",
      class: "btn primary",
      testid: "record-check",
      onclick: async () => {
        // Drop the old result at once so nobody reads it as the new one.
        slot.setAttribute("data-busy", "true");
        replace(slot, h("p", { class: "muted" }, "Checking the published record…"));
        await busy(checkBtn, async () => {
          try {
            perr.show(null);
            const sc = await ipc.keysCheck(k.address);
            checks.set(k.address, sc);
            replace(slot, statusBox(sc));
          } catch (e) {
            replace(slot);
            perr.show((e as Error).message);
          } finally {
            slot.removeAttribute("data-busy");
          }
        });
      },
    },
    "Check publication",
  );

  return h(
    "section",
    { class: "card record-panel", "data-address": k.address, "aria-labelledby": "record-h" },
    h(heading, { id: "record-h", tabindex: "-1" }, `Publish your certificate for ${k.address}`),
    intro && h("p", null, "Senders find your certificate in your domain's DNS. Add this record to the DNS zone of your domain, at your DNS host. The zone must be signed with DNSSEC, so that senders can tell the record is genuine."),
    h("p", { class: "muted small" }, `${k.algorithm} · expires ${k.expires} · certificate SHA-256 `, h("code", { class: "hex" }, k.certificate_sha256)),
    recordBody,
    h(sub, null, "Is it published?"),
    h("p", { class: "muted small" }, "After you add the record, DNS can take a while to show it. Check as often as you like."),
    h("div", { class: "row" }, checkBtn, exportButton(k.address)),
    slot,
    perr.el,
  );
}

function exportButton(address: string): HTMLElement {
  return h(
    "button",
    {
      type: "button",
      class: "btn",
      testid: "key-export",
      onclick: async (ev: Event) => {
        await busy(ev.currentTarget as HTMLButtonElement, async () => {
          try {
            const path = await pickSavePath(`${address}.pem`, "Certificate", ["pem", "crt"]);
            if (!path) return;
            await ipc.keysExportCert(address, path);
            announce(`Certificate saved to ${path}`);
          } catch (e) {
            announce((e as Error).message);
            err?.show((e as Error).message);
          }
        });
      },
    },
    "Export certificate…",
  );
}

/** "Make a new key" form. */
export function generateForm(heading: "h2" | "h3", done: (k: KeyView) => Promise<void>): HTMLElement {
  const ferr = errorBox("key-generate-error");
  const email = h("input", { id: "key-email", testid: "key-email", type: "email", autocomplete: "email", spellcheck: "false", required: true });
  const alg = h(
    "select",
    { id: "key-algorithm", testid: "key-algorithm", "aria-describedby": "key-algorithm-hint" },
    h("option", { value: "rsa3072", selected: true }, "RSA 3072 (works everywhere)"),
    h("option", { value: "p256" }, "EC P-256 (smaller)"),
  );
  const btn = h("button", { type: "submit", class: "btn primary", testid: "key-generate" }, "Make key");
  return h(
    "form",
    {
      class: "card",
      novalidate: true,
      "aria-labelledby": "gen-h",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        await busy(btn, async () => {
          try {
            ferr.show(null);
            email.removeAttribute("aria-invalid");
            const k = await ipc.keysGenerate(email.value.trim(), alg.value as "rsa3072" | "p256");
            announce(`New key for ${k.address}`);
            email.value = "";
            await done(k);
          } catch (e) {
            ferr.show((e as Error).message);
            email.setAttribute("aria-invalid", "true");
            email.focus();
          }
        });
      },
    },
    h(heading, { id: "gen-h" }, "Make a new key"),
    h("p", { class: "muted small" }, "DANE Mail makes a key and a certificate for your address and keeps them on this computer."),
    h("div", { class: "field" }, h("label", { for: "key-email" }, "Your email address"), email),
    h(
      "div",
      { class: "field" },
      h("label", { for: "key-algorithm" }, "Key type"),
      alg,
      h("p", { class: "hint", id: "key-algorithm-hint" }, "RSA 3072 works with every mail program. EC P-256 is smaller, but some mail programs cannot read it yet."),
    ),
    h("div", { class: "row" }, btn),
    ferr.el,
  );
}

/** "Import a key (PKCS#12)" form. */
export function importForm(heading: "h2" | "h3", done: (k: KeyView) => Promise<void>): HTMLElement {
  const ferr = errorBox("key-import-error");
  let path: string | null = null;
  const chosen = h("span", { id: "import-file", class: "muted", testid: "key-import-file" }, "No file chosen");
  const pw = h("input", { id: "key-import-password", testid: "key-import-password", type: "password", autocomplete: "off" });
  const choose = h(
    "button",
    {
      type: "button",
      class: "btn",
      testid: "key-import-choose",
      "aria-describedby": "import-file",
      onclick: async () => {
        try {
          ferr.show(null);
          const p = await pickOpenPath("PKCS#12 key file", ["p12", "pfx"]);
          if (p) {
            path = p;
            chosen.textContent = p;
            chosen.classList.remove("muted");
          }
        } catch (e) {
          ferr.show((e as Error).message);
        }
      },
    },
    "Choose file…",
  );
  const btn = h("button", { type: "submit", class: "btn primary", testid: "key-import" }, "Import");
  return h(
    "form",
    {
      class: "card",
      novalidate: true,
      "aria-labelledby": "imp-h",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        if (!path) {
          ferr.show("Choose the key file first.");
          choose.focus();
          return;
        }
        const p = path;
        await busy(btn, async () => {
          try {
            ferr.show(null);
            const k = await ipc.keysImport(p, pw.value);
            announce(`Imported the key for ${k.address}`);
            pw.value = "";
            await done(k);
          } catch (e) {
            ferr.show((e as Error).message);
          }
        });
      },
    },
    h(heading, { id: "imp-h" }, "Import a key you already have"),
    h("p", { class: "muted small" }, "A PKCS#12 file (.p12 or .pfx) with your key and certificate, e.g. exported from another mail program."),
    h("div", { class: "field" }, h("span", { class: "label" }, "Key file"), h("div", { class: "row" }, choose, chosen)),
    h("div", { class: "field" }, h("label", { for: "key-import-password" }, "Password of the file"), pw),
    h("div", { class: "row" }, btn),
    ferr.el,
  );
}
