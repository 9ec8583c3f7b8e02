// Static product text: how to point common mail programs at DANE Mail.
// The values (host, port, user) come from the engine's ClientSettings.

import type { ClientSettings } from "../bindings/ClientSettings";
import { h } from "../dom";

export function clientHelp(c: ClientSettings, heading: "h3" | "h4"): HTMLElement {
  const where = `${c.smtp_host}, port ${c.smtp_port}`;
  const guides: [string, string[]][] = [
    [
      "Thunderbird",
      [
        "Save the certificate (button above).",
        "Settings → Privacy & Security → Certificates → Manage Certificates → Authorities → Import… Choose the saved file and tick “Trust this CA to identify websites”.",
        `Account Settings → Outgoing Server (SMTP) → Add: server ${where}, connection security STARTTLS, authentication “Normal password”, user name ${c.username}.`,
        "Select the account, set its outgoing server to the one you just added. Enter the password above when asked.",
      ],
    ],
    [
      "Outlook (Windows)",
      [
        "Save the certificate, double-click it → Install Certificate → Current User → “Place all certificates in the following store” → Trusted Root Certification Authorities.",
        `File → Account Settings → your account → Change: outgoing mail server ${c.smtp_host}.`,
        `More Settings → Outgoing Server: tick “My outgoing server requires authentication”, log on with user name ${c.username} and the password above.`,
        `More Settings → Advanced: outgoing server port ${c.smtp_port}, encrypted connection STARTTLS.`,
      ],
    ],
    [
      "Apple Mail",
      [
        "Save the certificate and open it: Keychain Access adds it to the login keychain.",
        "In Keychain Access double-click the certificate → Trust → “When using this certificate”: Always Trust.",
        "Mail → Settings → Accounts → your account → Server Settings → Outgoing Mail Server: untick “Automatically manage connection settings”.",
        `Host name ${c.smtp_host}, port ${c.smtp_port}, tick “Use TLS/SSL”, authentication Password, user name ${c.username} and the password above.`,
      ],
    ],
  ];
  return h(
    "div",
    { class: "help" },
    h(heading, null, "Step by step"),
    guides.map(([name, steps]) =>
      h("details", { class: "guide" }, h("summary", null, name), h("ol", null, steps.map((s) => h("li", null, s)))),
    ),
  );
}
