// Activity: messages accepted since start, newest first, and what became
// of each recipient (the engine's words).

import type { ActivityItem } from "../bindings/ActivityItem";
import type { RecipientOutcome } from "../bindings/RecipientOutcome";
import { announce, badge, busy, errorBox, fmtSize, fmtWhen, h, replace, time } from "../dom";
import { ipc } from "../ipc";
import type { View } from "../view";

let list: HTMLElement;
let err: ReturnType<typeof errorBox>;
/** The message whose "Delete?" question is open; survives re-draws. */
let confirming: string | null = null;
/** Last words per queue id + recipient, to announce what changed. */
let seen = new Map<string, string>();

export const activityView: View = {
  id: "activity",
  title: "Activity",
  async mount(root) {
    confirming = null;
    err = errorBox("activity-error");
    list = h("div", { id: "activity-list", "aria-busy": "true" }, h("p", null, "Loading…"));
    root.append(err.el, list);
    await load(false);
  },
  async refresh() {
    await load(true);
  },
};

async function load(announceChanges: boolean): Promise<void> {
  let items: ActivityItem[];
  try {
    items = await ipc.activity();
    err.show(null);
  } catch (e) {
    err.show((e as Error).message);
    list.removeAttribute("aria-busy");
    return;
  }
  const changes: string[] = [];
  const next = new Map<string, string>();
  for (const it of items) {
    for (const r of it.recipients) {
      const key = `${it.id} ${r.address}`;
      next.set(key, r.words);
      if (announceChanges && seen.get(key) !== r.words) changes.push(`${r.address}: ${r.words}`);
    }
  }
  seen = next;
  if (changes.length) announce(changes.slice(0, 3).join(". "));
  if (confirming && !items.some((i) => i.id === confirming && i.in_outbox)) confirming = null;
  draw(items);
}

function draw(items: ActivityItem[]): void {
  list.removeAttribute("aria-busy");
  if (items.length === 0) {
    replace(
      list,
      h(
        "div",
        { class: "card empty", testid: "activity-empty" },
        h("p", null, "No mail yet."),
        h("p", { class: "muted" }, "Messages your mail program sends through DANE Mail appear here, with what happened to each recipient."),
      ),
    );
    return;
  }
  replace(list, h("ol", { class: "activity plain" }, items.map(row)));
}

function row(it: ActivityItem): HTMLElement {
  return h(
    "li",
    { class: "card activity-row", testid: "activity-row", "data-queue-id": it.id, "data-in-outbox": it.in_outbox ? "true" : "false" },
    h(
      "div",
      { class: "activity-head" },
      h("p", { class: "activity-subject" }, it.subject ? it.subject : h("span", { class: "muted" }, "(no subject)")),
      h("p", { class: "muted small" }, time(it.received_at), " · ", fmtSize(it.size), " · from ", it.from),
    ),
    h("ul", { class: "outcomes plain" }, it.recipients.map(outcome)),
    it.in_outbox ? actions(it) : null,
  );
}

function outcome(r: RecipientOutcome): HTMLElement {
  const stateClass =
    r.state === "delivered" ? (r.decision === "encrypt" ? "ok" : "neutral")
    : r.state === "bounced" || r.state === "refused" ? "bad"
    : "attention";
  return h(
    "li",
    { class: "rcpt-outcome", testid: "rcpt-outcome", "data-address": r.address, "data-decision": r.decision, "data-state": r.state },
    h("p", null, h("span", { class: "rcpt-addr" }, r.address), " ", badge(stateClass, r.words, { testid: "rcpt-words", "data-glyph": r.state })),
    h("p", { class: "muted small" }, r.reason),
    r.detail ? h("p", { class: "detail small" }, h("span", { class: "label" }, "Provider said: "), r.detail) : null,
    r.state === "retrying" && r.next_attempt
      ? h("p", { class: "small", testid: "next-attempt" }, "Next attempt ", h("time", { datetime: new Date(r.next_attempt * 1000).toISOString() }, fmtWhen(r.next_attempt)))
      : null,
  );
}

function actions(it: ActivityItem): HTMLElement {
  const box = h("div", { class: "row actions" });
  const rowErr = errorBox();
  const drawButtons = () => {
    if (confirming === it.id) {
      const del = h(
        "button",
        {
          type: "button",
          class: "btn danger",
          testid: "activity-delete-confirm",
          onclick: async (ev: Event) => {
            await busy(ev.currentTarget as HTMLButtonElement, async () => {
              try {
                await ipc.outboxDelete(it.id);
                confirming = null;
                announce("Message deleted");
                document.getElementById("view-title")?.focus();
                await load(false);
              } catch (e) {
                rowErr.show((e as Error).message);
              }
            });
          },
        },
        "Delete",
      );
      replace(
        box,
        h(
          "div",
          { class: "confirm", role: "group", "aria-labelledby": `confirm-${it.id}` },
          h("span", { id: `confirm-${it.id}` }, "Delete this message? It will not be sent."),
          " ",
          del,
          " ",
          h(
            "button",
            {
              type: "button",
              class: "btn",
              testid: "activity-delete-cancel",
              onclick: () => {
                confirming = null;
                drawButtons();
                box.querySelector<HTMLElement>('[data-testid="activity-delete"]')?.focus();
              },
            },
            "Cancel",
          ),
        ),
        rowErr.el,
      );
    } else {
      replace(
        box,
        h(
          "button",
          {
            type: "button",
            class: "btn",
            testid: "activity-retry",
            onclick: async (ev: Event) => {
              await busy(ev.currentTarget as HTMLButtonElement, async () => {
                try {
                  rowErr.show(null);
                  await ipc.outboxRetry(it.id);
                  announce("Retrying now");
                  await load(true);
                } catch (e) {
                  rowErr.show((e as Error).message);
                }
              });
            },
          },
          "Retry now",
        ),
        h(
          "button",
          {
            type: "button",
            class: "btn",
            testid: "activity-delete",
            onclick: () => {
              confirming = it.id;
              drawButtons();
              box.querySelector<HTMLElement>('[data-testid="activity-delete-confirm"]')?.focus();
            },
          },
          "Delete",
        ),
        rowErr.el,
      );
    }
  };
  drawButtons();
  return box;
}
