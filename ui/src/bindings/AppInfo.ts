// Shell-side type (src-tauri), not generated from the engine: keep in step with src-tauri by hand.
export type AppInfo = {
  /** Whether a tray icon is shown. */
  tray_available: boolean,
  /** Why there is no tray (words for the person), when tray_available is false. */
  tray_note: string | null,
  autostart: boolean,
  headless: boolean,
};
