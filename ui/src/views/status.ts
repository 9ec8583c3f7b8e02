// Status: the engine's snapshot, the settings for the mail client, the
// local CA, DNS health, today's counts, pause.

import type { AppInfo } from "../bindings/AppInfo";
import type { ClientSettings } from "../bindings/ClientSettings";
import type { InboundStatus } from "../bindings/InboundStatus";
import type { ListenerStatus } from "../bindings/ListenerStatus";
import type { Status } from "../bindings/Status";
import {
  announce, badge, busy, codeWords, copyButton, errorBox, glyph, h, replace, time, type Child,
} from "../dom";
import { ipc, pickSavePath } from "../ipc";
import type { View } from "../view";
import { clientHelp } from "./clienthelp";

let revealed = false;

export const statusView: View = {
  id: "status",
  title: "Status",
  async mount(root) {
    revealed = false;
    const body = h("div", { class: "stack", "aria-busy": "true" }, h("p", null, "Loading…"));
    root.append(body);
    await load(body);
  },
  async refresh() {
    const body = document.querySelector<HTMLElement>("#view-status-body");
    if (body) await load(body);
  },
};

async function load(body: HTMLElement): Promise<void> {
  body.id = "view-status-body";
  const err = errorBox();
  try {
    const [status, client, info] = await Promise.all([
      ipc.status(),
      ipc.clientSettings(),
      ipc.appInfo().catch(() => null),
    ]);
    replace(body, render(status, client, info, () => load(body)));
  } catch (e) {
    err.show((e as Error).message);
    replace(body, err.el, h("button", { type: "button", class: "btn", onclick: () => load(body) }, "Try again"));
  } finally {
    body.removeAttribute("aria-busy");
  }
}

function render(s: Status, c: ClientSettings, info: AppInfo | null, reload: () => Promise<void>): Child[] {
  const err = errorBox("status-error");
  const pause = h(
    "button",
    {
      type: "button",
      class: "btn",
      testid: "pause-toggle",
      "aria-pressed": s.delivery.paused ? "true" : "false",
      onclick: async (ev: Event) => {
        const btn = ev.currentTarget as HTMLButtonElement;
        await busy(btn, async () => {
          try {
            err.show(null);
            const next = await ipc.setPaused(!s.delivery.paused);
            announce(next.sentence);
            await reload();
          } catch (e) {
            err.show((e as Error).message);
          }
        });
      },
    },
    s.delivery.paused ? "Resume sending" : "Pause sending",
  );

  return [
    h(
      "section",
      { class: "card headline-card", "aria-labelledby": "st-now" },
      h("h3", { id: "st-now", class: "sr-only" }, "Now"),
      h(
        "p",
        { class: "app-state", testid: "app-state", "data-state": s.state },
        glyph(s.state),
        h("span", null, s.sentence),
      ),
      h("div", { class: "row" }, pause, h("span", { class: "muted" }, "While paused, mail is still accepted and kept in the outbox.")),
      err.el,
      info && !info.tray_available && info.tray_note
        ? h("p", { class: "notice", testid: "tray-note" }, info.tray_note)
        : null,
    ),
    s.problems.length
      ? h(
          "section",
          { class: "card", "aria-labelledby": "st-problems" },
          h("h3", { id: "st-problems" }, "Problems"),
          h(
            "ul",
            { class: "problems", testid: "problems" },
            s.problems.map((p) =>
              h(
                "li",
                { class: "problem", "data-state": p.severity, "data-area": p.area },
                h("p", { class: "problem-text" }, glyph(p.severity), p.text),
                p.advice ? h("p", { class: "advice" }, p.advice) : null,
              ),
            ),
          ),
        )
      : null,
    h(
      "section",
      { class: "card", "aria-labelledby": "st-conn" },
      h("h3", { id: "st-conn" }, "Connections"),
      h(
        "div",
        { class: "grid2" },
        listener("Mail program → DANE Mail (SMTP)", "smtp", s.smtp, err, reload),
        s.ldap
          ? listener("Address book (LDAP)", "ldap", s.ldap, err, reload)
          : h("div", { class: "listener", testid: "listener-ldap" }, h("h4", null, "Address book (LDAP)"), h("p", null, "Switched off in Settings.")),
        h(
          "div",
          { class: "listener", testid: "upstream" },
          h("h4", null, "DANE Mail → your provider"),
          h("p", null, s.delivery.upstream || "No provider set up yet (Settings)."),
          h("p", null, badge(s.delivery.upstream_state, s.delivery.upstream_words)),
          s.delivery.last_error ? h("p", { class: "error-text" }, s.delivery.last_error) : null,
        ),
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "st-dns" },
      h("h3", { id: "st-dns" }, "DNS security check"),
      h(
        "div",
        { class: "dns-health", testid: "dns-health", "data-state": s.dns.state === "ok" ? "ok" : "problem" },
        h("p", null, badge(s.dns.state === "ok" ? "ok" : s.dns.state === "checking" ? "checking" : "problem", s.dns.verdict)),
        s.dns.advice ? h("p", { class: "advice" }, s.dns.advice) : null,
        s.dns.path ? h("p", { testid: "dns-path" }, s.dns.path) : null,
        s.dns.checked_at ? h("p", { class: "muted" }, "Checked ", time(s.dns.checked_at)) : null,
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "st-today" },
      h("h3", { id: "st-today" }, "Today"),
      h(
        "dl",
        { class: "counts", testid: "today" },
        count("Accepted", s.today.accepted, "today-accepted"),
        count("Sent", s.today.sent, "today-sent"),
        count("Encrypted", s.today.encrypted, "today-encrypted"),
        count("Held", s.today.held, "today-held"),
        count("Bounced", s.today.bounced, "today-bounced"),
      ),
      h(
        "p",
        { class: "muted" },
        `Outbox: ${s.outbox.messages} message${s.outbox.messages === 1 ? "" : "s"}, ` +
          `${s.outbox.pending_recipients} recipient${s.outbox.pending_recipients === 1 ? "" : "s"} waiting, ` +
          `${s.outbox.retrying_recipients} retrying.`,
      ),
    ),
    incoming(s.inbound),
    s.own_records.length
      ? h(
          "section",
          { class: "card", "aria-labelledby": "st-own" },
          h("h3", { id: "st-own" }, "Your published certificates"),
          h(
            "ul",
            { class: "plain" },
            s.own_records.map((r) =>
              h(
                "li",
                { class: "own-record", "data-address": r.address, "data-status": r.status },
                h("p", null, h("strong", null, r.address), " — ", badge(r.status === "ok" ? "ok" : "attention", r.detail)),
                r.advice ? h("p", { class: "advice" }, r.advice) : null,
              ),
            ),
          ),
        )
      : null,
    clientSection(c),
    h(
      "p",
      { class: "muted small" },
      s.config_path ? `Settings file: ${s.config_path}. ` : "",
      `Data folder: ${s.storage_dir}`,
    ),
  ];
}

/** Badge colour for an account state code; the engine's words say it. */
const INBOUND_BADGE: Record<string, string> = {
  "in-sync": "ok",
  syncing: "checking",
  error: "error",
  "not-synced": "unknown",
  off: "not-configured",
};

/** Incoming mail: what is decrypted, where the plaintext copies are. */
function incoming(i: InboundStatus): HTMLElement {
  return h(
    "section",
    { class: "card", "aria-labelledby": "st-inbound", testid: "inbound", "data-enabled": i.enabled ? "true" : "false" },
    h("h3", { id: "st-inbound" }, "Incoming mail"),
    h("p", { testid: "inbound-summary" }, i.summary),
    i.error ? h("p", { class: "error-text", testid: "inbound-error" }, i.error) : null,
    i.accounts.map((a) =>
      h(
        "div",
        { class: "inbound-account", testid: "inbound-account", "data-name": a.name, "data-state": a.state },
        h("h4", null, `${a.name} — `, h("code", null, a.host)),
        h("p", null, badge(INBOUND_BADGE[a.state] ?? "unknown", a.state_words, { testid: "inbound-state" })),
        a.last_sync ? h("p", { class: "muted" }, "Last complete sync ", time(a.last_sync)) : null,
        h("p", { testid: "inbound-where" }, a.copies_words),
        a.folders.length
          ? h(
              "ul",
              { class: "plain", testid: "inbound-folders" },
              a.folders.map((f) =>
                h("li", { testid: "inbound-folder", "data-folder": f.name }, h("strong", null, f.name), ": ", f.words),
              ),
            )
          : null,
        a.failures.length
          ? h(
              "details",
              { testid: "inbound-failures" },
              h("summary", null, `${a.failed_total} message${a.failed_total === 1 ? "" : "s"} could not be decrypted`),
              h(
                "ul",
                { class: "plain" },
                a.failures.map((f) => h("li", null, `${f.folder}, message ${f.uid}: ${f.reason}`)),
              ),
              a.failed_total > a.failures.length
                ? h("p", { class: "muted" }, `…and ${a.failed_total - a.failures.length} more, listed by danemail inbound status.`)
                : null,
            )
          : null,
      ),
    ),
  );
}

function count(label: string, n: number, testid: string): HTMLElement {
  return h("div", { class: "count" }, h("dt", null, label), h("dd", { testid }, String(n)));
}

function listener(
  title: string,
  which: "smtp" | "ldap",
  l: ListenerStatus,
  err: ReturnType<typeof errorBox>,
  reload: () => Promise<void>,
): HTMLElement {
  const failed = l.state !== "listening";
  return h(
    "div",
    { class: "listener", testid: `listener-${which}`, "data-state": l.state },
    h("h4", null, title),
    h("p", null, h("code", null, l.address), " ", badge(failed ? "failed" : "listening", codeWords(l.state))),
    l.error ? h("p", { class: "error-text" }, l.error) : null,
    failed && l.suggested_port !== null
      ? h(
          "button",
          {
            type: "button",
            class: "btn",
            testid: `use-port-${which}`,
            onclick: async (ev: Event) => {
              const port = l.suggested_port as number;
              await busy(ev.currentTarget as HTMLButtonElement, async () => {
                try {
                  err.show(null);
                  const form = await ipc.settings();
                  if (which === "smtp") form.smtp_port = String(port);
                  else form.ldap_port = String(port);
                  await ipc.saveSettings(form, null);
                  announce(`Saved: now using port ${port}`);
                  await reload();
                } catch (e) {
                  err.show((e as Error).message);
                }
              });
            },
          },
          `Use port ${l.suggested_port} instead`,
        )
      : null,
  );
}

/** The SMTP/LDAP settings to paste into the mail program, and the CA. Also
 * used by the first-run wizard. */
export function clientSection(c: ClientSettings, headingLevel: "h3" | "h2" = "h3"): HTMLElement {
  const sub = headingLevel === "h2" ? "h3" : "h4";
  const pwCell = h("span", { class: "pw" });
  const revealBtn = h("button", { type: "button", class: "btn small", testid: "smtp-password-reveal" });
  const drawPw = () => {
    replace(
      pwCell,
      revealed
        ? h("code", { testid: "smtp-password" }, c.password)
        : h("span", { class: "muted", testid: "smtp-password-hidden" }, "hidden"),
    );
    revealBtn.textContent = revealed ? "Hide password" : "Show password";
    revealBtn.setAttribute("aria-expanded", revealed ? "true" : "false");
  };
  revealBtn.addEventListener("click", () => {
    revealed = !revealed;
    drawPw();
  });
  drawPw();

  const row = (label: string, value: Child, copy: HTMLElement | null, ...rest: Child[]) =>
    h("tr", null, h("th", { scope: "row" }, label), h("td", null, value, ...rest), h("td", { class: "actions" }, copy));

  const err = errorBox();
  const H = (text: string, id: string) => h(headingLevel, { id }, text);
  const S = (text: string) => h(sub, null, text);

  return h(
    "section",
    { class: "card", "aria-labelledby": "st-client" },
    H("Settings for your mail program", "st-client"),
    h("p", null, "Set your mail program to send through DANE Mail instead of directly to your provider. DANE Mail then encrypts each message for every recipient who publishes a certificate."),
    S("Outgoing mail (SMTP)"),
    h(
      "table",
      { class: "kv client" },
      h("caption", { class: "sr-only" }, "Outgoing mail server settings"),
      h(
        "tbody",
        null,
        row("Server", h("code", { testid: "smtp-host" }, c.smtp_host), copyButton("server", () => c.smtp_host)),
        row("Port", h("code", { testid: "smtp-port" }, String(c.smtp_port)), copyButton("port", () => String(c.smtp_port))),
        row("Security", h("span", { testid: "smtp-security" }, c.smtp_security), null),
        row("Authentication", "Normal password", null),
        row("User name", h("code", { testid: "smtp-username" }, c.username), copyButton("user name", () => c.username)),
        row("Password", pwCell, copyButton("password", () => c.password), " ", revealBtn),
      ),
    ),
    h("p", { class: "muted small" }, `The password is stored in: ${c.password_storage}.`),
    h("div", { class: "row" }, copyButton("all SMTP settings", () => c.smtp_text, { testid: "smtp-copy-all" }, "Copy all")),
    S("Address book (LDAP)"),
    c.ldap_enabled ? null : h("p", null, "The address book is switched off in Settings."),
    h(
      "table",
      { class: "kv client" },
      h("caption", { class: "sr-only" }, "Address book settings"),
      h(
        "tbody",
        null,
        row("Server", h("code", { testid: "ldap-host" }, c.ldap_host), copyButton("LDAP server", () => c.ldap_host)),
        row("Port", h("code", { testid: "ldap-port" }, String(c.ldap_port)), copyButton("LDAP port", () => String(c.ldap_port))),
        row("Base DN", h("code", { testid: "ldap-base-dn" }, c.ldap_base_dn), copyButton("base DN", () => c.ldap_base_dn)),
      ),
    ),
    h("div", { class: "row" }, copyButton("all LDAP settings", () => c.ldap_text, { testid: "ldap-copy-all" }, "Copy all")),
    S("The local certificate authority"),
    h("p", null, "Your mail program talks to DANE Mail over an encrypted connection on this computer. It has to trust DANE Mail's own certificate authority once; save the certificate and follow the steps for your program below."),
    h(
      "table",
      { class: "kv" },
      h("caption", { class: "sr-only" }, "Local certificate authority"),
      h(
        "tbody",
        null,
        h("tr", null, h("th", { scope: "row" }, "SHA-256 fingerprint"), h("td", null, h("code", { class: "hex", testid: "ca-sha256" }, c.ca_sha256))),
        h("tr", null, h("th", { scope: "row" }, "File"), h("td", null, h("code", null, c.ca_path))),
      ),
    ),
    h(
      "div",
      { class: "row" },
      h(
        "button",
        {
          type: "button",
          class: "btn",
          testid: "ca-save",
          onclick: async (ev: Event) => {
            await busy(ev.currentTarget as HTMLButtonElement, async () => {
              try {
                err.show(null);
                const path = await pickSavePath("danemail-local-ca.pem", "Certificate", ["pem", "crt"]);
                if (!path) return;
                await ipc.saveCa(path);
                announce(`Certificate saved to ${path}`);
              } catch (e) {
                err.show((e as Error).message);
              }
            });
          },
        },
        "Save certificate…",
      ),
      copyButton("certificate (PEM)", () => c.ca_pem, { testid: "ca-copy" }, "Copy certificate"),
    ),
    err.el,
    clientHelp(c, sub),
  );
}
