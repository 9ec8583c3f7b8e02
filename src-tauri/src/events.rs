//! The engine's event stream, fanned out: to the window as
//! `danemail://event` (payload `ServiceEvent`, docs/APP-IPC.md), to the tray
//! (re-read `status()` after every event) and to notifications.

use danemail::service::view::ServiceEvent;
use danemail::service::Engine;
use tauri::{AppHandle, Emitter as _, Manager as _, WindowEvent};
use tokio::sync::broadcast::error::RecvError;

use crate::notify::Notifier;
use crate::{tray, MAIN_WINDOW};

/// The one event channel the window listens to.
pub const EVENT: &str = "danemail://event";

pub fn spawn_forwarder(app: AppHandle, engine: Engine) {
    let mut events = engine.subscribe();
    tauri::async_runtime::spawn(async move {
        let mut notifier = Notifier::default();
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                // Events were dropped: the window re-reads everything on a
                // `status` event, which is all a missed one would have asked.
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "event forwarder lagged");
                    ServiceEvent::Status
                }
                Err(RecvError::Closed) => break,
            };
            // No window while closed: it reads everything afresh when opened.
            if app.get_webview_window(MAIN_WINDOW).is_some() {
                if let Err(e) = app.emit_to(MAIN_WINDOW, EVENT, &event) {
                    tracing::warn!("event to window: {e}");
                }
            }
            tray::update(&app, &engine.status());
            notifier.on_event(&app, &event);
        }
    });
}

/// Window events the tray cares about: a theme change picks the other icon
/// variant.
pub fn on_window_event(app: &AppHandle, engine: &Engine, event: &WindowEvent) {
    if let WindowEvent::ThemeChanged(_) = event {
        tray::update(app, &engine.status());
    }
}
