// The only module that talks to the shell. One typed wrapper per command in
// docs/APP-IPC.md; Tauri maps the camelCase argument names to Rust's
// snake_case. Every failure is normalised to an IpcError carrying the
// engine's UiError (message + the settings field it is about).

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { open as openDialog, save as saveDialog } from "@tauri-apps/plugin-dialog";

import type { ActivityItem } from "./bindings/ActivityItem";
import type { AppInfo } from "./bindings/AppInfo";
import type { ClientSettings } from "./bindings/ClientSettings";
import type { KeyView } from "./bindings/KeyView";
import type { LookupView } from "./bindings/LookupView";
import type { RecentLookup } from "./bindings/RecentLookup";
import type { RecordView } from "./bindings/RecordView";
import type { SelfCheckView } from "./bindings/SelfCheckView";
import type { ServiceEvent } from "./bindings/ServiceEvent";
import type { SettingsForm } from "./bindings/SettingsForm";
import type { Status } from "./bindings/Status";
import type { UiError } from "./bindings/UiError";

export const EVENT_CHANNEL = "danemail://event";

export class IpcError extends Error implements UiError {
  readonly field: string | null;
  constructor(err: UiError) {
    super(err.message);
    this.name = "IpcError";
    this.field = err.field;
  }
}

/** Whatever a command rejected with → IpcError. The engine sends UiError
 * objects; the shell or a plugin may send a bare string. */
export function toUiError(e: unknown): IpcError {
  if (e instanceof IpcError) return e;
  if (typeof e === "string") return new IpcError({ message: e, field: null });
  if (e && typeof e === "object") {
    const o = e as Record<string, unknown>;
    const message = typeof o.message === "string" ? o.message : JSON.stringify(e);
    const field = typeof o.field === "string" && o.field ? o.field : null;
    return new IpcError({ message, field });
  }
  return new IpcError({ message: String(e), field: null });
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toUiError(e);
  }
}

export const ipc = {
  status: () => call<Status>("status"),
  activity: () => call<ActivityItem[]>("activity"),
  lookup: (addresses: string[]) => call<LookupView[]>("lookup", { addresses }),
  recentLookups: () => call<RecentLookup[]>("recent_lookups"),
  outboxRetry: (id: string) => call<null>("outbox_retry", { id }),
  outboxDelete: (id: string) => call<null>("outbox_delete", { id }),
  keysList: () => call<KeyView[]>("keys_list"),
  keysGenerate: (email: string, algorithm: "rsa3072" | "p256") =>
    call<KeyView>("keys_generate", { email, algorithm }),
  keysImport: (path: string, password: string) => call<KeyView>("keys_import", { path, password }),
  keysExportCert: (address: string, path: string) => call<null>("keys_export_cert", { address, path }),
  keysRecord: (address: string) => call<RecordView>("keys_record", { address }),
  keysCheck: (address: string) => call<SelfCheckView>("keys_check", { address }),
  clientSettings: () => call<ClientSettings>("client_settings"),
  saveCa: (path: string) => call<null>("save_ca", { path }),
  setPaused: (paused: boolean) => call<Status>("set_paused", { paused }),
  settings: () => call<SettingsForm>("settings"),
  saveSettings: (form: SettingsForm, upstreamPassword: string | null, inboundPassword: string | null = null) =>
    call<SettingsForm>("save_settings", { form, upstreamPassword, inboundPassword }),
  finishFirstRun: () => call<null>("finish_first_run"),
  appInfo: () => call<AppInfo>("app_info"),
  setAutostart: (enabled: boolean) => call<AppInfo>("set_autostart", { enabled }),
};

/** Subscribe to the engine's event stream. */
export function onServiceEvent(handler: (ev: ServiceEvent) => void): Promise<UnlistenFn> {
  return listen<ServiceEvent>(EVENT_CHANNEL, (e) => handler(e.payload));
}

// ---- file dialogs (plugin-dialog) ----

/** Ask where to save; null when the person cancelled. */
export async function pickSavePath(defaultPath: string, filterName: string, extensions: string[]): Promise<string | null> {
  try {
    return await saveDialog({ defaultPath, filters: [{ name: filterName, extensions }] });
  } catch (e) {
    throw toUiError(e);
  }
}

/** Ask for one file to open; null when cancelled. */
export async function pickOpenPath(filterName: string, extensions: string[]): Promise<string | null> {
  try {
    const picked = await openDialog({ multiple: false, directory: false, filters: [{ name: filterName, extensions }] });
    return typeof picked === "string" ? picked : null;
  } catch (e) {
    throw toUiError(e);
  }
}
