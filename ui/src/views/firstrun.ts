// First run: four short steps, in plain words, for someone who has never
// heard of DNSSEC. Skippable at every step.

import type { KeyView } from "../bindings/KeyView";
import type { SettingsForm } from "../bindings/SettingsForm";
import { announce, busy, errorBox, h, replace } from "../dom";
import { IpcError, ipc } from "../ipc";
import { generateForm, importForm, recordPanel } from "./keys";
import { clientSection } from "./status";

const STEPS = ["Your mail provider", "Your key", "Publish your certificate", "Your mail program"];

export function firstRun(root: HTMLElement, done: () => Promise<void>): Promise<void> {
  let step = 0;
  let key: KeyView | null = null;
  const body = h("div", { class: "stack" });
  const progress = h("ol", { class: "progress", "aria-label": "Setup steps" });
  const finish = async (btn: HTMLButtonElement | null) => {
    await busy(btn, async () => {
      try {
        await ipc.finishFirstRun();
        await done();
      } catch (e) {
        announce((e as Error).message);
      }
    });
  };
  const skip = h("button", { type: "button", class: "btn link", testid: "firstrun-skip", onclick: (ev: Event) => finish(ev.currentTarget as HTMLButtonElement) }, "Skip setup");

  root.append(
    h(
      "div",
      { class: "wizard-top" },
      h("p", { class: "lead" }, "DANE Mail encrypts the mail you send, for every recipient who has published a certificate for their address. A few steps and you are set."),
      skip,
    ),
    progress,
    body,
  );

  const go = async (n: number) => {
    step = n;
    replace(
      progress,
      STEPS.map((t, i) => h("li", { "aria-current": i === step ? "step" : null, class: i < step ? "done" : null }, `${i + 1}. ${t}`)),
    );
    replace(body, h("p", null, "Loading…"));
    const nav = (next: HTMLElement | null) =>
      h(
        "div",
        { class: "row wizard-nav" },
        step > 0 ? h("button", { type: "button", class: "btn", testid: "firstrun-back", onclick: () => go(step - 1) }, "Back") : null,
        next,
      );
    const nextBtn = (label = "Next") =>
      h("button", { type: "button", class: "btn primary", testid: "firstrun-next", onclick: () => go(step + 1) }, label);
    const H = (t: string) => h("h2", { id: "wizard-h", tabindex: "-1" }, t);

    try {
      if (step === 0) replace(body, await providerStep(H, () => go(1)));
      else if (step === 1) {
        const keys = await ipc.keysList();
        if (!key && keys.length) key = keys[0] ?? null;
        const onKey = async (k: KeyView) => {
          key = k;
          await go(2);
        };
        replace(
          body,
          h(
            "section",
            { class: "card", "aria-labelledby": "wizard-h" },
            H("Step 2: your key"),
            h("p", null, "To receive encrypted mail, others need your certificate — a public key for your address. DANE Mail makes one for you and keeps the private part on this computer. If you already have one (a .p12 file), import it."),
            keys.length
              ? h("p", { testid: "firstrun-has-key" }, `You already have a key for ${keys.map((k) => k.address).join(", ")}.`)
              : null,
          ),
          h("div", { class: "grid2" }, generateForm("h3", onKey), importForm("h3", onKey)),
          nav(nextBtn(keys.length ? "Next" : "Later")),
        );
      } else if (step === 2) {
        if (!key) {
          const keys = await ipc.keysList();
          key = keys[0] ?? null;
        }
        replace(
          body,
          h(
            "section",
            { class: "card", "aria-labelledby": "wizard-h" },
            H("Step 3: publish your certificate"),
            h("p", null, "Senders look your certificate up in DNS, the internet's directory of names. Whoever runs your domain (your DNS host) can add the record below. Your domain also needs DNSSEC switched on: a signature that proves the record really comes from your domain. Many DNS hosts have a one-click switch for it."),
            h("p", { class: "muted" }, "You can do this later; DNS changes can take an hour to show."),
          ),
          key ? await recordPanel(key, "h3", false) : h("p", { class: "card" }, "You have no key yet, so there is nothing to publish. You can make one later under “Your keys”."),
          nav(nextBtn()),
        );
      } else {
        const c = await ipc.clientSettings();
        replace(
          body,
          h(
            "section",
            { class: "card", "aria-labelledby": "wizard-h" },
            H("Step 4: set up your mail program"),
            h("p", null, "Last step: tell your mail program to send through DANE Mail. Keep this window open while you copy the settings."),
          ),
          clientSection(c, "h3"),
          nav(h("button", { type: "button", class: "btn primary", testid: "firstrun-done", onclick: (ev: Event) => finish(ev.currentTarget as HTMLButtonElement) }, "Done")),
        );
      }
    } catch (e) {
      replace(body, h("p", { class: "error-box", role: "alert" }, (e as Error).message), nav(nextBtn()));
    }
    document.getElementById("wizard-h")?.focus();
  };

  return go(0);
}

async function providerStep(H: (t: string) => HTMLElement, next: () => Promise<void>): Promise<HTMLElement> {
  const form0: SettingsForm = await ipc.settings();
  const err = errorBox("firstrun-error");
  const field = (id: string, label: string, input: HTMLElement, hint?: string) =>
    h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null);
  const inp = (id: string, value: string, extra: Record<string, string> = {}) =>
    h("input", { id, testid: id, type: "text", value, spellcheck: "false", autocomplete: "off", ...extra });
  const host = inp("firstrun-upstream-host", form0.upstream_host, { placeholder: "smtp.example.com" });
  const port = inp("firstrun-upstream-port", form0.upstream_port, { inputmode: "numeric" });
  const sec = h(
    "select",
    { id: "firstrun-upstream-security", testid: "firstrun-upstream-security" },
    [["starttls", "STARTTLS (usually port 587)"], ["tls", "TLS from the start (usually port 465)"], ["none", "None"]].map(([v, l]) =>
      h("option", { value: v, selected: form0.upstream_security === v }, l),
    ),
  );
  const user = inp("firstrun-upstream-username", form0.upstream_username, { autocomplete: "username" });
  const pw = h("input", {
    id: "firstrun-upstream-password",
    testid: "firstrun-upstream-password",
    type: "password",
    autocomplete: "new-password",
    placeholder: form0.upstream_password_set ? "A password is stored" : "",
  });
  const ids: Record<string, HTMLElement> = { "upstream-host": host, "upstream-port": port, "upstream-security": sec, "upstream-username": user, "upstream-password": pw };
  const save = h("button", { type: "submit", class: "btn primary", testid: "firstrun-save" }, "Save and continue");
  return h(
    "form",
    {
      class: "card",
      novalidate: true,
      "aria-labelledby": "wizard-h",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        await busy(save, async () => {
          Object.values(ids).forEach((el) => el.removeAttribute("aria-invalid"));
          err.show(null);
          try {
            await ipc.saveSettings(
              { ...form0, upstream_host: host.value, upstream_port: port.value, upstream_security: sec.value, upstream_username: user.value },
              pw.value === "" ? null : pw.value,
            );
            announce("Provider saved");
            await next();
          } catch (e) {
            const ue = e as IpcError;
            err.show(ue.message);
            const ctl = ue.field ? ids[ue.field] : undefined;
            if (ctl) {
              ctl.setAttribute("aria-invalid", "true");
              ctl.focus();
            }
          }
        });
      },
    },
    H("Step 1: your mail provider"),
    h("p", null, "DANE Mail sits between your mail program and your provider. Enter your provider's outgoing server — the same details your mail program uses now (often under “Outgoing server” or “SMTP”)."),
    field("firstrun-upstream-host", "Outgoing server", host),
    field("firstrun-upstream-port", "Port", port),
    field("firstrun-upstream-security", "Connection security", sec),
    field("firstrun-upstream-username", "User name (often your email address)", user),
    field("firstrun-upstream-password", "Password", pw),
    h("div", { class: "row" }, save, h("button", { type: "button", class: "btn", testid: "firstrun-next", onclick: () => next() }, "Skip this step")),
    err.el,
  );
}
