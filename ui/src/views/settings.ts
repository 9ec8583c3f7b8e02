// Settings: the engine's SettingsForm, edited as strings and handed back
// whole; the engine validates and names the refused field.

import type { AppInfo } from "../bindings/AppInfo";
import type { SettingsForm } from "../bindings/SettingsForm";
import { announce, busy, errorBox, h, replace } from "../dom";
import { IpcError, ipc } from "../ipc";
import type { View } from "../view";

const TEXT_KEYS = [
  "upstream_host", "upstream_port", "upstream_username", "smtp_port", "ldap_port", "dns_servers", "dns_trust_anchor",
  "inbound_name", "inbound_host", "inbound_port", "inbound_username", "inbound_folders",
] as const;
const SELECT_KEYS = ["upstream_security", "policy_mode", "inbound_security"] as const;
const BOOL_KEYS = ["ldap_enabled", "inbound_enabled", "inbound_mirror_plaintext"] as const;
type TextKey = (typeof TEXT_KEYS)[number];
type SelectKey = (typeof SELECT_KEYS)[number];
type BoolKey = (typeof BOOL_KEYS)[number];

/** testid suffix for a SettingsForm key: upstream_host → upstream-host,
 * dns_trust_anchor → dns-trust_anchor (section-key; the key keeps its _). */
export function fieldId(key: string): string {
  return key.replace("_", "-");
}

/** The control for a UiError.field ("smtp-port"), within `root`. */
export function fieldControl(root: ParentNode, field: string): HTMLElement | null {
  const variants = [field, field.replace(/_/g, "-"), field.replace(/-/g, "_").replace("_", "-")];
  for (const v of variants) {
    const el = root.querySelector<HTMLElement>(`[data-testid="setting-${CSS.escape(v)}"]`);
    if (el) return el;
  }
  return null;
}

export const settingsView: View = {
  id: "settings",
  title: "Settings",
  async mount(root) {
    const body = h("div", { "aria-busy": "true" }, h("p", null, "Loading…"));
    root.append(body);
    try {
      const [form, info] = await Promise.all([ipc.settings(), ipc.appInfo().catch(() => null)]);
      replace(body, build(form, info));
    } catch (e) {
      replace(body, h("p", { class: "error-box", role: "alert" }, (e as Error).message));
    } finally {
      body.removeAttribute("aria-busy");
    }
  },
  async refresh() {
    // Never overwrite what the person is typing; the form is re-read
    // when the view is opened again or after saving.
  },
};

function build(initial: SettingsForm, info: AppInfo | null): HTMLElement {
  let current = initial;
  const err = errorBox("settings-error");
  err.el.id = "settings-error";
  const saved = h("p", { class: "saved", testid: "settings-saved", hidden: true });

  const text = (key: TextKey, label: string, opts: { hint?: string; numeric?: boolean; placeholder?: string } = {}) => {
    const id = `setting-${fieldId(key)}`;
    const input = h("input", {
      id,
      testid: id,
      name: key,
      type: "text",
      value: current[key],
      inputmode: opts.numeric ? "numeric" : null,
      spellcheck: "false",
      autocomplete: "off",
      placeholder: opts.placeholder ?? null,
      "aria-describedby": opts.hint ? `${id}-hint` : null,
    });
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, label),
      input,
      opts.hint ? h("p", { id: `${id}-hint`, class: "hint" }, opts.hint) : null,
    );
  };
  const select = (key: SelectKey, label: string, options: [string, string][], hint?: string) => {
    const id = `setting-${fieldId(key)}`;
    const sel = h(
      "select",
      { id, testid: id, name: key, "aria-describedby": hint ? `${id}-hint` : null },
      options.map(([v, l]) => h("option", { value: v, selected: current[key] === v }, l)),
    );
    if (!options.some(([v]) => v === current[key])) {
      // An engine value the UI does not know: show it rather than lose it.
      sel.append(h("option", { value: current[key], selected: true }, current[key]));
    }
    return h("div", { class: "field" }, h("label", { for: id }, label), sel, hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null);
  };
  const check = (key: BoolKey, label: string, hint?: string) => {
    const id = `setting-${fieldId(key)}`;
    return h(
      "div",
      { class: "field check" },
      h("input", {
        id,
        testid: id,
        name: key,
        type: "checkbox",
        checked: current[key],
        "aria-describedby": hint ? `${id}-hint` : null,
      }),
      h("label", { for: id }, label),
      hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null,
    );
  };

  // Passwords go to the OS keyring on save and are never shown again;
  // the form only says whether one is stored.
  const secret = (section: "upstream" | "inbound") => {
    const id = `setting-${section}-password`;
    const input = h("input", {
      id,
      testid: id,
      name: `${section}_password`,
      type: "password",
      autocomplete: "new-password",
      "aria-describedby": `${id}-hint`,
    });
    const hint = h("p", { id: `${id}-hint`, class: "hint", testid: `${id}-state` });
    const draw = () => {
      const stored = section === "upstream" ? current.upstream_password_set : current.inbound_password_set;
      input.placeholder = stored ? "A password is stored" : "No password stored";
      hint.textContent = stored
        ? "A password is stored. Leave this empty to keep it; type a new one to replace it."
        : "No password is stored yet.";
    };
    return { input, hint, draw, field: h("div", { class: "field" }, h("label", { for: id }, "Password"), input, hint) };
  };
  const upPw = secret("upstream");
  const inPwParts = secret("inbound");
  const pw = upPw.input;
  const inPw = inPwParts.input;
  const drawPwState = () => {
    upPw.draw();
    inPwParts.draw();
  };
  drawPwState();

  const advanced = h(
    "details",
    { class: "advanced" },
    h("summary", null, "Advanced"),
    text("dns_servers", "DNS resolvers", {
      hint: "Validating resolvers as IP:PORT, separated by spaces or commas. Empty: the ones this computer uses.",
      placeholder: "system default",
    }),
    text("dns_trust_anchor", "DNSSEC trust anchor file", {
      hint: "Empty: the IANA root keys (right for almost everyone).",
      placeholder: "IANA root keys",
    }),
  );

  const autostart = h("input", {
    id: "setting-app-autostart",
    testid: "setting-app-autostart",
    type: "checkbox",
    checked: info?.autostart ?? false,
    disabled: info === null,
  });
  const autoErr = errorBox("autostart-error");
  autostart.addEventListener("change", async () => {
    const want = autostart.checked;
    try {
      autoErr.show(null);
      const next = await ipc.setAutostart(want);
      autostart.checked = next.autostart;
      announce(next.autostart ? "DANE Mail will start when you log in" : "DANE Mail will not start when you log in");
    } catch (e) {
      autostart.checked = !want;
      autoErr.show((e as Error).message);
    }
  });

  const saveBtn = h("button", { type: "submit", class: "btn primary", testid: "settings-save" }, "Save");

  const form = h(
    "form",
    {
      class: "settings",
      novalidate: true,
      testid: "settings-form",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        await busy(saveBtn, async () => {
          clearInvalid(form);
          err.show(null);
          saved.hidden = true;
          const next: SettingsForm = { ...current };
          for (const k of TEXT_KEYS) {
            next[k] = (form.elements.namedItem(k) as HTMLInputElement).value;
          }
          for (const k of SELECT_KEYS) {
            next[k] = (form.elements.namedItem(k) as HTMLSelectElement).value;
          }
          for (const k of BOOL_KEYS) {
            next[k] = (form.elements.namedItem(k) as HTMLInputElement).checked;
          }
          try {
            const result = await ipc.saveSettings(
              next,
              pw.value === "" ? null : pw.value,
              inPw.value === "" ? null : inPw.value,
            );
            current = result;
            pw.value = "";
            inPw.value = "";
            drawPwState();
            fill(form, result);
            saved.textContent = "Saved.";
            saved.hidden = false;
            announce("Settings saved");
          } catch (e) {
            const ue = e instanceof IpcError ? e : new IpcError({ message: String(e), field: null });
            err.show(ue.message);
            const ctl = ue.field ? fieldControl(form, ue.field) : null;
            if (ctl) {
              const d = ctl.closest("details");
              if (d) d.open = true;
              ctl.setAttribute("aria-invalid", "true");
              const prev = ctl.getAttribute("aria-describedby");
              ctl.setAttribute("data-prev-describedby", prev ?? "");
              ctl.setAttribute("aria-describedby", [prev, "settings-error"].filter(Boolean).join(" "));
              ctl.focus();
            }
          }
        });
      },
    },
    h(
      "fieldset",
      null,
      h("legend", null, "Your mail provider (outgoing server)"),
      h("p", { class: "hint" }, "Where DANE Mail hands your mail on — the outgoing server your mail program used before."),
      text("upstream_host", "Server"),
      text("upstream_port", "Port", { numeric: true }),
      select("upstream_security", "Connection security", [
        ["starttls", "STARTTLS (usually port 587)"],
        ["tls", "TLS from the start (usually port 465)"],
        ["none", "None — only for a server on this computer"],
      ]),
      text("upstream_username", "User name"),
      upPw.field,
    ),
    h(
      "fieldset",
      { testid: "settings-inbound" },
      h("legend", null, "Incoming mail"),
      check(
        "inbound_enabled",
        "Decrypt incoming S/MIME mail into a local folder",
        "DANE Mail reads your provider's mail folders over IMAP without changing anything there, and keeps a " +
          "decrypted copy of every message encrypted to your keys in a folder on this computer. Those copies are " +
          "not encrypted: anyone who can read that folder can read them. The originals stay encrypted at the provider.",
      ),
      text("inbound_host", "Incoming mail server (IMAP)", { placeholder: "imap.example.com" }),
      text("inbound_port", "Port", { numeric: true }),
      select("inbound_security", "Connection security", [
        ["tls", "TLS from the start (usually port 993)"],
        ["starttls", "STARTTLS (usually port 143)"],
        ["none", "None — only for a server on this computer"],
      ]),
      text("inbound_username", "User name"),
      inPwParts.field,
      text("inbound_folders", "Folders to read", { hint: "Separated by commas, e.g. INBOX, Archive." }),
      check("inbound_mirror_plaintext", "Also copy unencrypted mail, so the local folder is a complete mailbox"),
      text("inbound_name", "Account name", {
        hint: "A short name (letters, digits, . - _) for the local folder and the status. The password is stored under it.",
      }),
    ),
    h(
      "fieldset",
      null,
      h("legend", null, "When a recipient has no certificate"),
      select(
        "policy_mode",
        "Policy",
        [
          ["opportunistic", "Send anyway (opportunistic)"],
          ["require", "Only send encrypted (require)"],
        ],
        "Send anyway: mail is encrypted for every recipient who publishes a certificate, and sent as written to the others. " +
          "Only send encrypted: mail to a recipient without a usable certificate is refused, so your mail program tells you at once. " +
          "Either way, mail is never sent when DNS shows signs of tampering.",
      ),
    ),
    h(
      "fieldset",
      null,
      h("legend", null, "On this computer"),
      text("smtp_port", "Port for your mail program (SMTP)", { numeric: true, hint: "Your mail program sends to 127.0.0.1 on this port." }),
      check("ldap_enabled", "Offer an address book (LDAP) so the mail program can find recipients' certificates"),
      text("ldap_port", "Address book port (LDAP)", { numeric: true }),
    ),
    advanced,
    h("div", { class: "row" }, saveBtn, saved),
    err.el,
  );

  return h(
    "div",
    { class: "stack" },
    h("div", { class: "card" }, form),
    h(
      "section",
      { class: "card", "aria-labelledby": "set-app" },
      h("h3", { id: "set-app" }, "App"),
      h("div", { class: "field check" }, autostart, h("label", { for: "setting-app-autostart" }, "Start DANE Mail when I log in")),
      info === null ? h("p", { class: "hint" }, "Not available here.") : null,
      autoErr.el,
    ),
  );
}

function fill(form: HTMLFormElement, s: SettingsForm): void {
  for (const [k, v] of Object.entries(s)) {
    const el = form.elements.namedItem(k) as HTMLInputElement | HTMLSelectElement | null;
    if (!el) continue;
    if (el instanceof HTMLInputElement && el.type === "checkbox") el.checked = Boolean(v);
    else el.value = String(v);
  }
}

function clearInvalid(form: HTMLFormElement): void {
  form.querySelectorAll<HTMLElement>("[aria-invalid]").forEach((el) => {
    el.removeAttribute("aria-invalid");
    const prev = el.getAttribute("data-prev-describedby");
    if (prev !== null) {
      if (prev) el.setAttribute("aria-describedby", prev);
      else el.removeAttribute("aria-describedby");
      el.removeAttribute("data-prev-describedby");
    }
  });
}
