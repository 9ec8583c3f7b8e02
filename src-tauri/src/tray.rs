//! The tray icon: one picture per `AppState` (the badge's shape tells the
//! state, not only its colour), a menu that starts with "Open DANE Mail"
//! (Linux trays deliver no clicks) and a disabled line with the status
//! sentence (Linux trays show no tooltip).

use std::sync::Mutex;

use danemail::service::view::{AppState, Status};
use danemail::service::Engine;
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Theme, Wry};
use tauri_plugin_clipboard_manager::ClipboardExt as _;

use crate::shell::{self, Shell};
use crate::MAIN_WINDOW;

const OPEN: &str = "open";
const STATUS: &str = "status";
const PAUSE: &str = "pause";
const COPY_SMTP: &str = "copy-smtp";
const COPY_LDAP: &str = "copy-ldap";
const QUIT: &str = "quit";

/// The longest status line in the menu; the window has the whole sentence.
const STATUS_CHARS: usize = 64;

/// Icons for light panels (a dark glyph) and dark panels (a light glyph),
/// rendered by icons/make.sh from icons/source.svg.
fn icon_bytes(state: AppState, dark_panel: bool) -> &'static [u8] {
    macro_rules! pick {
        ($name:literal) => {
            if dark_panel {
                include_bytes!(concat!("../icons/tray-", $name, "-dark.png")).as_slice()
            } else {
                include_bytes!(concat!("../icons/tray-", $name, "-light.png")).as_slice()
            }
        };
    }
    match state {
        AppState::Ok => pick!("ok"),
        AppState::Paused => pick!("paused"),
        AppState::Attention => pick!("attention"),
        AppState::Error => pick!("error"),
    }
}

/// What the tray shows now; kept to skip no-op updates (on Linux every
/// `set_icon` writes a new temporary file for the indicator).
#[derive(Clone, PartialEq, Eq)]
struct Shown {
    state: AppState,
    dark_panel: bool,
    sentence: String,
    paused: bool,
    ldap: bool,
}

pub struct Tray {
    icon: TrayIcon,
    status: MenuItem<Wry>,
    pause: MenuItem<Wry>,
    copy_ldap: MenuItem<Wry>,
    shown: Mutex<Option<Shown>>,
}

/// Creates the tray when the platform can have one and records in `Shell`
/// whether it exists (the window's `app_info`).
pub fn install(app: &AppHandle, engine: &Engine) {
    let shell = app.state::<Shell>();
    if let Err(note) = indicator_library() {
        tracing::warn!("{note}");
        shell.set_tray(false, Some(note));
        return;
    }
    // libappindicator-sys panics when it cannot load its library; the check
    // above should catch that, this is the second net.
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build(app)));
    match built {
        Ok(Ok(tray)) => {
            app.manage(tray);
            shell.set_tray(true, None);
            update(app, &engine.status());
        }
        Ok(Err(e)) => {
            tracing::warn!("no tray icon: {e}");
            shell.set_tray(
                false,
                Some(format!("The tray icon could not be created: {e}")),
            );
        }
        Err(_) => {
            shell.set_tray(
                false,
                Some("The tray icon could not be created (the indicator library failed).".into()),
            );
        }
    }
}

/// Linux: the tray needs libayatana-appindicator3 (or the older
/// libappindicator3) at run time; without it libappindicator-sys panics.
#[cfg(target_os = "linux")]
fn indicator_library() -> Result<(), String> {
    const NAMES: [&str; 4] = [
        "libayatana-appindicator3.so.1",
        "libappindicator3.so.1",
        "libayatana-appindicator3.so",
        "libappindicator3.so",
    ];
    for name in NAMES {
        // SAFETY: loading a shared library runs its initialisers; these are
        // the same libraries libappindicator-sys itself loads next.
        if unsafe { libloading::Library::new(name) }.is_ok() {
            return Ok(());
        }
    }
    Err(
        "No tray icon: the library libayatana-appindicator3 is not installed \
         (Debian/Ubuntu: apt install libayatana-appindicator3-1). \
         DANE Mail keeps running; open this window from the applications menu."
            .into(),
    )
}

#[cfg(not(target_os = "linux"))]
fn indicator_library() -> Result<(), String> {
    Ok(())
}

fn build(app: &AppHandle) -> tauri::Result<Tray> {
    let open = MenuItem::with_id(app, OPEN, "Open DANE Mail", true, None::<&str>)?;
    let status = MenuItem::with_id(app, STATUS, "Starting…", false, None::<&str>)?;
    let pause = MenuItem::with_id(app, PAUSE, "Pause sending", true, None::<&str>)?;
    let copy_smtp = MenuItem::with_id(app, COPY_SMTP, "Copy SMTP settings", true, None::<&str>)?;
    let copy_ldap = MenuItem::with_id(app, COPY_LDAP, "Copy LDAP settings", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, QUIT, "Quit DANE Mail", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &status,
            &PredefinedMenuItem::separator(app)?,
            &pause,
            &copy_smtp,
            &copy_ldap,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let dark = dark_panel(app);
    let icon = TrayIconBuilder::with_id("danemail")
        .icon(Image::from_bytes(icon_bytes(AppState::Ok, dark))?)
        .tooltip("DANE Mail")
        .menu(&menu)
        // Windows and macOS: a left click opens the window, the right one
        // the menu. Linux trays always show the menu.
        .show_menu_on_left_click(false)
        .on_menu_event(on_menu)
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                shell::show_main_window(tray.app_handle());
            }
        })
        .build(app)?;
    Ok(Tray {
        icon,
        status,
        pause,
        copy_ldap,
        shown: Mutex::new(None),
    })
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    let engine = app.state::<Engine>().inner().clone();
    match event.id().as_ref() {
        OPEN => shell::show_main_window(app),
        PAUSE => {
            let paused = engine.status().delivery.paused;
            let status = engine.set_paused(!paused);
            update(app, &status);
        }
        id @ (COPY_SMTP | COPY_LDAP) => {
            let smtp = id == COPY_SMTP;
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                match engine.client_settings().await {
                    Ok(settings) => {
                        let text = if smtp {
                            settings.smtp_text
                        } else {
                            settings.ldap_text
                        };
                        if let Err(e) = app.clipboard().write_text(text) {
                            tracing::warn!("clipboard: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("client settings: {}", e.message),
                }
            });
        }
        QUIT => shell::quit(app),
        _ => {}
    }
}

/// Re-draws icon, tooltip and menu from a status snapshot (after every
/// engine event). Does nothing without a tray.
pub fn update(app: &AppHandle, status: &Status) {
    let Some(tray) = app.try_state::<Tray>() else {
        return;
    };
    let next = Shown {
        state: status.state,
        dark_panel: dark_panel(app),
        sentence: status.sentence.clone(),
        paused: status.delivery.paused,
        ldap: status.ldap.is_some(),
    };
    let mut shown = tray.shown.lock().unwrap_or_else(|e| e.into_inner());
    let before = shown.as_ref();
    if before.is_none_or(|b| (b.state, b.dark_panel) != (next.state, next.dark_panel)) {
        match Image::from_bytes(icon_bytes(next.state, next.dark_panel)) {
            Ok(image) => log_err(tray.icon.set_icon(Some(image))),
            Err(e) => tracing::warn!("tray icon: {e}"),
        }
    }
    if before.is_none_or(|b| b.sentence != next.sentence) {
        log_err(tray.status.set_text(menu_text(&next.sentence)));
        log_err(
            tray.icon
                .set_tooltip(Some(format!("DANE Mail — {}", next.sentence))),
        );
    }
    if before.is_none_or(|b| b.paused != next.paused) {
        let text = if next.paused {
            "Resume sending"
        } else {
            "Pause sending"
        };
        log_err(tray.pause.set_text(text));
    }
    if before.is_none_or(|b| b.ldap != next.ldap) {
        log_err(tray.copy_ldap.set_enabled(next.ldap));
    }
    *shown = Some(next);
}

/// One line, not too long, with `&` shown as itself (not a mnemonic).
fn menu_text(sentence: &str) -> String {
    let line = sentence.lines().next().unwrap_or_default();
    let mut text: String = line.chars().take(STATUS_CHARS).collect();
    if line.chars().count() > STATUS_CHARS {
        text.push('…');
    }
    text.replace('&', "&&")
}

/// Which icon variant suits the panel. GNOME's top bar is dark whatever the
/// theme; elsewhere the system theme the window gets is the best guess.
/// `DANEMAIL_TRAY_THEME=light|dark` overrides.
fn dark_panel(app: &AppHandle) -> bool {
    match std::env::var("DANEMAIL_TRAY_THEME").as_deref() {
        Ok("dark") => return true,
        Ok("light") => return false,
        _ => {}
    }
    if cfg!(target_os = "linux")
        && std::env::var("XDG_CURRENT_DESKTOP").is_ok_and(|d| d.contains("GNOME"))
    {
        return true;
    }
    app.get_webview_window(MAIN_WINDOW)
        .and_then(|w| w.theme().ok())
        .is_some_and(|t| t == Theme::Dark)
}

fn log_err(result: tauri::Result<()>) {
    if let Err(e) = result {
        tracing::warn!("tray: {e}");
    }
}
