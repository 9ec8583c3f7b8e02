//! What the shell itself knows and does: whether a tray exists, showing the
//! window, quitting.

use std::sync::atomic::{AtomicBool, Ordering};

use danemail::service::Engine;
use serde::Serialize;
use tauri::{AppHandle, Manager};
use tauri_plugin_autostart::ManagerExt as _;

use crate::MAIN_WINDOW;

/// The shell facts for the window (`app_info`).
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    pub tray_available: bool,
    /// Why there is no tray, in words.
    pub tray_note: Option<String>,
    /// Starts at login.
    pub autostart: bool,
    /// Always false in the window: the headless service has no window.
    pub headless: bool,
}

pub struct Shell {
    tray_available: AtomicBool,
    tray_note: std::sync::Mutex<Option<String>>,
    quitting: AtomicBool,
}

impl Shell {
    pub fn new() -> Self {
        Self {
            tray_available: AtomicBool::new(false),
            tray_note: std::sync::Mutex::new(None),
            quitting: AtomicBool::new(false),
        }
    }

    pub fn tray_available(&self) -> bool {
        self.tray_available.load(Ordering::SeqCst)
    }

    pub fn set_tray(&self, available: bool, note: Option<String>) {
        self.tray_available.store(available, Ordering::SeqCst);
        *self.tray_note.lock().unwrap_or_else(|e| e.into_inner()) = note;
    }

    pub fn info(&self, app: &AppHandle) -> AppInfo {
        let autostart = app.autolaunch().is_enabled().unwrap_or_else(|e| {
            tracing::warn!("autostart state: {e}");
            false
        });
        AppInfo {
            tray_available: self.tray_available(),
            tray_note: self
                .tray_note
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            autostart,
            headless: false,
        }
    }
}

/// Shows, restores and focuses the window, creating it first when it is
/// not there: it is not made at a hidden start, and closing it destroys it,
/// so that the web view's processes (most of the app's memory) exist only
/// while someone looks at them.
pub fn show_main_window(app: &AppHandle) {
    let window = match app.get_webview_window(MAIN_WINDOW) {
        Some(window) => window,
        None => {
            let Some(config) = app
                .config()
                .app
                .windows
                .iter()
                .find(|w| w.label == MAIN_WINDOW)
            else {
                return;
            };
            match tauri::WebviewWindowBuilder::from_config(app, config).and_then(|b| b.build()) {
                Ok(window) => window,
                Err(e) => {
                    tracing::error!("cannot open the window: {e}");
                    return;
                }
            }
        }
    };
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
}

/// Drains the engine (connections finish, nothing in the outbox is lost),
/// then exits. A second call while draining does nothing.
pub fn quit(app: &AppHandle) {
    let shell = app.state::<Shell>();
    if shell.quitting.swap(true, Ordering::SeqCst) {
        return;
    }
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.hide();
    }
    let app = app.clone();
    let engine = app.state::<Engine>().inner().clone();
    tauri::async_runtime::spawn(async move {
        engine.stop().await;
        app.exit(0);
    });
}

/// A session logout or `kill` (SIGTERM, SIGINT) quits the same way as the
/// menu: drain, then exit.
pub fn quit_on_signal(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        danemail::service::shutdown_signal().await;
        tracing::info!("signal received; stopping");
        quit(&app);
    });
}
