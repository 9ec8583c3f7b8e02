// A fake engine for looking at the UI in a plain browser: mockIPC answers
// every command in docs/APP-IPC.md with realistic data. Scenarios by query
// string: ?scenario=firstrun | empty | trouble (default: a busy day).

import { emit } from "@tauri-apps/api/event";
import { mockIPC } from "@tauri-apps/api/mocks";

import type { ActivityItem } from "../src/bindings/ActivityItem";
import type { AppInfo } from "../src/bindings/AppInfo";
import type { ClientSettings } from "../src/bindings/ClientSettings";
import type { KeyView } from "../src/bindings/KeyView";
import type { LookupView } from "../src/bindings/LookupView";
import type { RecentLookup } from "../src/bindings/RecentLookup";
import type { SelfCheckView } from "../src/bindings/SelfCheckView";
import type { ServiceEvent } from "../src/bindings/ServiceEvent";
import type { SettingsForm } from "../src/bindings/SettingsForm";
import type { Status } from "../src/bindings/Status";
import type { UiError } from "../src/bindings/UiError";

const scenario = new URLSearchParams(location.search).get("scenario") ?? "busy";
const now = Math.floor(Date.now() / 1000);
const CERT_A = "3f1c0a9be27d4f6a5c8e1b0d9f7a6c5e4d3b2a1908f7e6d5c4b3a29180f7e6d5";
const CERT_B = "a0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f";

let paused = false;
let firstRunDone = scenario !== "firstrun";
let autostart = false;

let settings: SettingsForm = {
  upstream_host: scenario === "firstrun" ? "" : "smtp.example.net",
  upstream_port: "587",
  upstream_security: "starttls",
  upstream_username: "me@example.org",
  upstream_password_set: scenario !== "firstrun",
  policy_mode: "opportunistic",
  smtp_port: "1587",
  ldap_enabled: true,
  ldap_port: "1389",
  dns_servers: "",
  dns_trust_anchor: "",
  inbound_enabled: scenario === "busy" || scenario === "trouble",
  inbound_name: "mail",
  inbound_host: scenario === "busy" || scenario === "trouble" ? "imap.example.net" : "",
  inbound_port: "993",
  inbound_security: "tls",
  inbound_username: scenario === "busy" || scenario === "trouble" ? "me@example.org" : "",
  inbound_password_set: scenario === "busy" || scenario === "trouble",
  inbound_folders: "INBOX",
  inbound_mirror_plaintext: false,
};

function inbound(trouble: boolean): Status["inbound"] {
  if (!settings.inbound_enabled || !settings.inbound_host) {
    return { enabled: settings.inbound_enabled, summary: "Incoming mail is not decrypted here: switched off in Settings.", error: null, accounts: [] };
  }
  const maildir = `/home/me/.local/share/danemail/decrypted/${settings.inbound_name}`;
  const error = trouble ? "login refused by the server (wrong user name or password?): [AUTHENTICATIONFAILED] Authentication failed." : null;
  return {
    enabled: true,
    summary:
      "S/MIME mail sent to your keys is read from your provider (nothing there is changed) and decrypted into plaintext copies on this computer. The originals stay encrypted at the provider.",
    error: null,
    accounts: [
      {
        name: settings.inbound_name,
        host: `${settings.inbound_host}:${settings.inbound_port}`,
        state: trouble ? "error" : "in-sync",
        state_words: trouble ? `Not synced: ${error}` : "In sync",
        error,
        last_sync: now - 90,
        maildir,
        copies_words: `Plaintext copies are kept in ${maildir}: anyone who can read that folder can read them. Only mail that arrived encrypted is copied; unencrypted mail stays at the provider only.`,
        folders: [{ name: "INBOX", decrypted: 41, mirrored: 0, failed: 2, words: "41 decrypted, 0 copied unencrypted, 2 failed" }],
        failures: [
          { folder: "INBOX", uid: 17, reason: "failed: not for us: encrypted to a certificate that is not one of your keys" },
          { folder: "INBOX", uid: 33, reason: "failed: damaged: the CMS structure cannot be parsed" },
        ],
        failed_total: 2,
      },
    ],
  };
}

const selfCheck = (address: string, ok: boolean): SelfCheckView =>
  ok
    ? { address, status: "ok", detail: "Published and DNSSEC-signed; matches your certificate", advice: "", checked_at: now - 600 }
    : {
        address,
        status: "missing",
        detail: "No SMIMEA record found for this address",
        advice: "Add the record shown under “Your keys” at your DNS host, then check again.",
        checked_at: now - 120,
      };

let keys: KeyView[] =
  scenario === "busy" || scenario === "trouble"
    ? [
        {
          address: "me@example.org",
          algorithm: "RSA 3072",
          expires: "2027-03-01",
          expires_at: now + 400 * 86400,
          certificate_sha256: CERT_B,
          self_check: selfCheck("me@example.org", scenario === "busy"),
        },
      ]
    : [];

function status(): Status {
  const trouble = scenario === "trouble";
  const problems: Status["problems"] = trouble
    ? [
        {
          severity: "error",
          area: "smtp",
          text: "Your mail program cannot reach DANE Mail: port 1587 is in use by thunderbird (pid 4242)",
          advice: "Use another port (button below), then change the port in your mail program.",
        },
        {
          severity: "attention",
          area: "keys",
          text: "Your certificate for me@example.org is not published yet",
          advice: "Add the record shown under “Your keys” at your DNS host.",
        },
      ]
    : [];
  const state: Status["state"] = trouble ? "error" : paused ? "paused" : "ok";
  return {
    state,
    sentence: trouble
      ? "Not running — port 1587 is in use by thunderbird (pid 4242)"
      : paused
        ? "Paused — mail is accepted and kept; nothing is sent"
        : "Running — today 12 sent, 9 encrypted",
    problems,
    smtp: trouble
      ? { address: "127.0.0.1:1587", port: 1587, state: "failed", error: "port 1587 is in use by thunderbird (pid 4242)", suggested_port: 1588 }
      : { address: "127.0.0.1:" + settings.smtp_port, port: Number(settings.smtp_port), state: "listening", error: null, suggested_port: null },
    ldap: settings.ldap_enabled
      ? { address: "127.0.0.1:" + settings.ldap_port, port: Number(settings.ldap_port), state: "listening", error: null, suggested_port: null }
      : null,
    delivery: {
      paused,
      upstream: settings.upstream_host ? `${settings.upstream_host}:${settings.upstream_port}` : "",
      upstream_state: !settings.upstream_host ? "not-configured" : trouble ? "unreachable" : "reachable",
      upstream_words: !settings.upstream_host ? "No provider set" : trouble ? "Not taking mail right now — will retry" : "Taking mail",
      last_error: trouble ? "connection to smtp.example.net:587 timed out after 30 s" : null,
    },
    dns: trouble
      ? {
          state: "problem",
          verdict: "Your resolver strips DNSSEC signatures",
          advice: "Set a validating resolver under Settings → Advanced, e.g. 9.9.9.9:53.",
          path: "No path carries DNSSEC data, so lookups fail (mail is held, never sent in the clear): the system resolver 192.168.1.1:53 over UDP strips DNSSEC signatures",
          checked_at: now - 300,
        }
      : {
          state: "ok",
          verdict: "DNSSEC validation works (root and example.org checked)",
          advice: null,
          path: "Using DNS over TLS to 9.9.9.9:853 (dns.quad9.net) because the system resolver 192.168.1.1:53 over UDP strips DNSSEC signatures (no RRSIG with the root DNSKEY)",
          checked_at: now - 300,
        },
    outbox: { messages: 2, pending_recipients: 2, retrying_recipients: 1 },
    today: { accepted: 14, sent: 12, encrypted: 9, bounced: 1, held: 1 },
    own_records: keys.map((k) => k.self_check).filter((x): x is SelfCheckView => x !== null),
    inbound: inbound(trouble),
    first_run_done: firstRunDone,
    config_path: "/home/me/.config/danemail/danemail.toml",
    storage_dir: "/home/me/.local/share/danemail",
  };
}

const client = (): ClientSettings => ({
  smtp_host: "127.0.0.1",
  smtp_port: Number(settings.smtp_port),
  smtp_security: "STARTTLS",
  username: "danemail",
  password: "vq7-Kd2p-9xLm-T4ze",
  password_storage: "OS keyring",
  ldap_enabled: settings.ldap_enabled,
  ldap_host: "127.0.0.1",
  ldap_port: Number(settings.ldap_port),
  ldap_base_dn: "dc=danemail,dc=local",
  ca_path: "/home/me/.local/share/danemail/ca.pem",
  ca_pem: "-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n",
  ca_sha256: "4A:7F:0C:11:92:DE:5B:33:8E:01:AA:6C:F3:19:27:40:BB:C8:5D:E2:06:71:9F:3A:C4:58:E0:12:7D:96:A3:0B",
  smtp_text: `Server: 127.0.0.1\nPort: ${settings.smtp_port}\nSecurity: STARTTLS\nUser: danemail\nPassword: vq7-Kd2p-9xLm-T4ze`,
  ldap_text: `Server: 127.0.0.1\nPort: ${settings.ldap_port}\nBase DN: dc=danemail,dc=local`,
});

const activity = (): ActivityItem[] =>
  scenario === "empty" || scenario === "firstrun"
    ? []
    : [
        {
          id: "q-20250301-0007",
          received_at: now - 240,
          size: 18342,
          subject: "Quarterly figures",
          from: "me@example.org",
          in_outbox: true,
          recipients: [
            {
              address: "alice@ecdsa.test",
              decision: "encrypt",
              reason: "A DNSSEC-signed SMIMEA record publishes a usable certificate",
              state: "delivered",
              words: "Delivered, encrypted to the published certificate",
              detail: "250 2.0.0 Ok: queued as 4Wq2",
              next_attempt: null,
            },
            {
              address: "bob@slow.example",
              decision: "plaintext",
              reason: "The domain is not DNSSEC-signed; nothing can be proved",
              state: "retrying",
              words: "Waiting to retry — the provider did not accept it yet",
              detail: "451 4.7.1 Greylisted, try again later",
              next_attempt: now + 600,
            },
          ],
        },
        {
          id: "q-20250301-0006",
          received_at: now - 3600,
          size: 2210,
          subject: null,
          from: "me@example.org",
          in_outbox: false,
          recipients: [
            {
              address: "carol@insecure.test",
              decision: "plaintext",
              reason: "The domain is not DNSSEC-signed; nothing can be proved",
              state: "delivered",
              words: "Delivered as written — no certificate published",
              detail: "250 2.0.0 Ok",
              next_attempt: null,
            },
            {
              address: "mallory@bogus.test",
              decision: "refuse",
              reason: "DNSSEC validation failed for bogus.test",
              state: "refused",
              words: "Held — DNSSEC validation failed, possible attack",
              detail: null,
              next_attempt: null,
            },
          ],
        },
        {
          id: "q-20250228-0003",
          received_at: now - 86400 * 1.2,
          size: 1203442,
          subject: "Photos",
          from: "me@example.org",
          in_outbox: false,
          recipients: [
            {
              address: "dave@gone.example",
              decision: "plaintext",
              reason: "No SMIMEA record published (DNSSEC-signed proof of absence)",
              state: "bounced",
              words: "Bounced — the provider refused it",
              detail: "550 5.1.1 <dave@gone.example>: Recipient address rejected",
              next_attempt: null,
            },
          ],
        },
      ];

function lookup(address: string): LookupView {
  const domain = address.split("@")[1] ?? "";
  const base = { address, checked_at: now, text: `danemail lookup ${address}\n…full report…` };
  if (domain === "ecdsa.test" || domain === "example.org") {
    return {
      ...base,
      decision: "encrypt",
      smimea_status: "secure",
      headline: "Will be encrypted (S/MIME)",
      reason: "A DNSSEC-signed SMIMEA record publishes a usable certificate for this address.",
      usable_certificates: [CERT_A],
      steps: [
        {
          key: "dnssec", title: "Is the domain signed?", verdict: "Secure", state: "good",
          explanation: `${domain} is signed with DNSSEC and the signatures check out, so answers about it can be trusted.`,
          details: [{ label: "Chain", value: ". → test. → ecdsa.test." }, { label: "Algorithm", value: "ECDSAP256SHA256 (13)" }],
          items: [],
        },
        {
          key: "smimea", title: "Is a certificate published?", verdict: "Published", state: "good",
          explanation: "One SMIMEA record was found; it holds a certificate DANE Mail can encrypt to.",
          details: [{ label: "Owner", value: `2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db._smimecert.${domain}.` }],
          items: [
            {
              title: "SMIMEA 3 0 0 (the full certificate)", verdict: "Usable", state: "good",
              explanation: "End-entity certificate, valid until 2026-11-30, allowed for encryption.",
              details: [{ label: "SHA-256", value: CERT_A }, { label: "Key", value: "EC P-256" }],
            },
          ],
        },
        {
          key: "decision", title: "What DANE Mail will do", verdict: "Encrypt", state: "good",
          explanation: "Mail to this address is encrypted to the published certificate before it leaves this computer.",
          details: [], items: [],
        },
        {
          key: "mx", title: "Mail servers", verdict: "Not checked", state: "not-run",
          explanation: "Transport security of the receiving servers is not part of this decision.",
          details: [], items: [],
        },
      ],
    };
  }
  if (domain === "bogus.test") {
    return {
      ...base,
      decision: "refuse",
      smimea_status: "bogus",
      headline: "Held — DNSSEC validation failed, possible attack",
      reason: "The answers about bogus.test carry signatures that do not check out. Someone may be tampering with DNS, so nothing is sent.",
      usable_certificates: [],
      steps: [
        {
          key: "dnssec", title: "Is the domain signed?", verdict: "Broken", state: "bad",
          explanation: "bogus.test claims to be signed, but its signatures are invalid.",
          details: [{ label: "Validator said", value: "RRSIG over SMIMEA failed to verify with DNSKEY 20326" }],
          items: [],
        },
        {
          key: "smimea", title: "Is a certificate published?", verdict: "Not trusted", state: "bad",
          explanation: "A record came back, but it cannot be trusted.",
          details: [], items: [],
        },
        {
          key: "decision", title: "What DANE Mail will do", verdict: "Refuse", state: "bad",
          explanation: "Your mail program is told the message cannot be sent to this address.",
          details: [], items: [],
        },
      ],
    };
  }
  return {
    ...base,
    decision: "plaintext",
    smimea_status: "insecure",
    headline: "Sent as written — no certificate published",
    reason: `${domain} is not signed with DNSSEC, so there is no trustworthy certificate to encrypt to.`,
    usable_certificates: [],
    steps: [
      {
        key: "dnssec", title: "Is the domain signed?", verdict: "Not signed", state: "neutral",
        explanation: `${domain} does not use DNSSEC.`, details: [{ label: "Proof", value: "NSEC3 insecure delegation at test." }], items: [],
      },
      {
        key: "decision", title: "What DANE Mail will do", verdict: "Send as written", state: "neutral",
        explanation: "Policy “send anyway”: the message goes out unencrypted, like ordinary mail.", details: [], items: [],
      },
    ],
  };
}

let recent: RecentLookup[] =
  scenario === "empty" || scenario === "firstrun"
    ? []
    : [
        { address: "alice@ecdsa.test", decision: "encrypt", headline: "Will be encrypted (S/MIME)", at: now - 240 },
        { address: "mallory@bogus.test", decision: "refuse", headline: "Held — DNSSEC validation failed, possible attack", at: now - 3600 },
        { address: "carol@insecure.test", decision: "plaintext", headline: "Sent as written — no certificate published", at: now - 3700 },
      ];

function fail(message: string, field: string | null = null): never {
  const e: UiError = { message, field };
  throw e;
}

const info = (): AppInfo => ({
  tray_available: scenario !== "trouble",
  tray_note: scenario === "trouble" ? "No tray on this desktop: this window and notifications show everything" : null,
  autostart,
  headless: false,
});

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

mockIPC(
  async (cmd, payload) => {
    const a = (payload ?? {}) as Record<string, unknown>;
    await delay(40);
    switch (cmd) {
      case "status":
        return status();
      case "activity":
        return activity();
      case "lookup": {
        const views = (a.addresses as string[]).map(lookup);
        for (const v of views) {
          recent = [{ address: v.address, decision: v.decision, headline: v.headline, at: now }, ...recent.filter((r) => r.address !== v.address)];
        }
        await delay(300);
        return views;
      }
      case "recent_lookups":
        return recent;
      case "outbox_retry":
      case "outbox_delete":
        return null;
      case "keys_list":
        return keys;
      case "keys_generate": {
        const email = String(a.email);
        if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) fail(`“${email}” is not an email address`);
        const k: KeyView = {
          address: email,
          algorithm: a.algorithm === "p256" ? "EC P-256" : "RSA 3072",
          expires: "2028-03-01",
          expires_at: now + 730 * 86400,
          certificate_sha256: CERT_A,
          self_check: null,
        };
        keys = [...keys.filter((x) => x.address !== email), k];
        await delay(400);
        return k;
      }
      case "keys_import":
        if (a.password !== "secret") fail("Wrong password for this PKCS#12 file");
        return keys[0];
      case "keys_export_cert":
      case "save_ca":
        return null;
      case "keys_record": {
        const addr = String(a.address);
        const owner = `2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db._smimecert.${addr.split("@")[1]}.`;
        return {
          address: addr,
          owner,
          presentation: `${owner} IN SMIMEA 3 0 0 308201c53082016ba003020102021449a4d2b0c3f1e2a7b6c5d4e3f2a1b0c9d8e7f6a5300a06082a8648ce3d040302302f312d302b06035504030c24…`,
          generic: `${owner} IN TYPE53 \\# 457 030000308201c53082016ba003020102021449a4d2b0c3f1e2a7b6c5d4e3f2a1b0c9d8e7f6a5…`,
        };
      }
      case "keys_check": {
        await delay(300);
        const sc = selfCheck(String(a.address), String(a.address) === "me@example.org" && scenario === "busy");
        const sc2 = { ...sc, checked_at: now };
        keys = keys.map((k) => (k.address === sc.address ? { ...k, self_check: sc2 } : k));
        return sc2;
      }
      case "client_settings":
        return client();
      case "set_paused":
        paused = Boolean(a.paused);
        return status();
      case "settings":
        return settings;
      case "save_settings": {
        const f = a.form as SettingsForm;
        for (const [k, field] of [["upstream_port", "upstream-port"], ["smtp_port", "smtp-port"], ["ldap_port", "ldap-port"]] as const) {
          const n = Number(f[k]);
          if (!/^\d+$/.test(f[k]) || n < 1 || n > 65535) fail(`${f[k]} is not a port number (1–65535)`, field);
        }
        if (f.dns_trust_anchor && !f.dns_trust_anchor.startsWith("/")) fail("The trust anchor must be a full file path", "dns-trust_anchor");
        if (f.inbound_enabled && !f.inbound_host) fail("Incoming mail server: enter your provider's IMAP server to switch decryption on", "inbound-host");
        if (f.inbound_security === "none" && !["127.0.0.1", "::1", "localhost"].includes(f.inbound_host))
          fail(`Incoming mail security: account \`${f.inbound_name}\`: security = "none" is allowed only for a loopback host (127.0.0.1, ::1, localhost)`, "inbound-security");
        settings = {
          ...f,
          upstream_password_set: f.upstream_password_set || a.upstreamPassword !== null,
          inbound_password_set: f.inbound_password_set || (a.inboundPassword ?? null) !== null,
        };
        return settings;
      }
      case "finish_first_run":
        firstRunDone = true;
        return null;
      case "app_info":
        return info();
      case "set_autostart":
        autostart = Boolean(a.enabled);
        return info();
      case "plugin:dialog|save":
        return "/home/me/Documents/saved.pem";
      case "plugin:dialog|open":
        return "/home/me/Downloads/me.p12";
      default:
        throw `mock: unknown command ${cmd}`;
    }
  },
  { shouldMockEvents: true },
);

/** For the check script: push an engine event into the window. */
(window as unknown as { __mockEmit: (ev: ServiceEvent) => Promise<void> }).__mockEmit = (ev) => emit("danemail://event", ev);
