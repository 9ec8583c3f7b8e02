//! DANE Mail desktop app: a Tauri shell over `danemail::service::Engine`.
//!
//! The engine (SMTP submission, LDAP directory, outbox, DNS) runs in this
//! process for as long as the app runs; the window is only a view onto it.
//! Closing the window hides it, Quit (tray menu) drains the engine and exits.
//! Without a display (Linux: no DISPLAY and no WAYLAND_DISPLAY) the app runs
//! the headless service, the same as `danemail run`.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod events;
mod notify;
mod shell;
mod tray;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use danemail::config::Config;
use danemail::service::{self, Engine};
use tauri::{Manager, RunEvent};

use crate::shell::Shell;

/// The label of the one window (tauri.conf.json).
pub const MAIN_WINDOW: &str = "main";

#[derive(Debug, Parser)]
#[command(name = "danemail-app", version, about = "DANE Mail: the tray app")]
struct Args {
    /// The configuration file (default: the platform config dir's
    /// danemail/config.toml if it exists, else the built-in defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Start in the tray without showing the window (used at login). The
    /// window still opens when there is no tray or setup is not finished.
    #[arg(long)]
    hidden: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();

    let config_path = match &args.config {
        // Absolute, so autostart and a second launch find the same file.
        Some(path) => Some(std::path::absolute(path).unwrap_or_else(|_| path.clone())),
        None => Config::default_path().filter(|p| p.exists()),
    };
    let config = match Config::load(config_path.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("danemail-app: {e}");
            return ExitCode::from(2);
        }
    };

    if !display_available() {
        eprintln!(
            "danemail-app: no display; running the headless service (same as `danemail run`)"
        );
        return headless(config);
    }
    gui(args, config, config_path)
}

/// Logs to stderr; `RUST_LOG` overrides (the same default as the CLI).
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,danemail=info,danemail_app=info,hickory_proto=off,hickory_net=off,hickory_resolver=off",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// tao panics when GTK finds no display: decide before touching it.
fn display_available() -> bool {
    if cfg!(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    )) {
        let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        set("DISPLAY") || set("WAYLAND_DISPLAY")
    } else {
        true
    }
}

fn headless(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("danemail-app: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(service::run(config, service::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("danemail-app: {e}");
            ExitCode::FAILURE
        }
    }
}

fn gui(args: Args, config: Config, config_path: Option<PathBuf>) -> ExitCode {
    // Autostart starts the app hidden, with the same configuration file.
    let mut autostart_args = vec!["--hidden".to_owned()];
    if let (Some(path), true) = (&config_path, args.config.is_some()) {
        autostart_args.push("--config".to_owned());
        autostart_args.push(path.display().to_string());
    }

    let hidden = args.hidden;
    let app = tauri::Builder::default()
        // First: a second launch only brings the first one's window back.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            shell::show_main_window(app);
        }))
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .args(autostart_args)
                .app_name("DANE Mail")
                .build(),
        )
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .invoke_handler(commands::handler())
        .setup(move |app| {
            let handle = app.handle().clone();
            // Started here, after the single-instance plugin: a second
            // launch exits before it touches ports or the outbox. On
            // Tauri's tokio runtime; the window's first command runs after
            // setup returns, so it finds the engine.
            let engine = match tauri::async_runtime::block_on(Engine::start(config, config_path)) {
                Ok(engine) => engine,
                Err(e) => {
                    cannot_start(&handle, &e.to_string());
                    return Ok(());
                }
            };
            app.manage(engine.clone());
            app.manage(Shell::new());
            tray::install(&handle, &engine);
            events::spawn_forwarder(handle.clone(), engine.clone());
            shell::quit_on_signal(handle.clone());

            let shell = handle.state::<Shell>();
            let status = engine.status();
            // With --hidden the window stays closed only when the tray can
            // bring it back and setup is done.
            if !hidden || !shell.tray_available() || !status.first_run_done {
                shell::show_main_window(&handle);
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            let app = window.app_handle();
            if let Some(engine) = app.try_state::<Engine>() {
                events::on_window_event(app, &engine, event);
            }
            // Closing the window destroys it (and its web view) and
            // nothing more: the service keeps running, ExitRequested below
            // keeps the app alive without windows, and the tray or a second
            // launch makes the window again (shell::show_main_window).
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("danemail-app: {e}");
            return ExitCode::FAILURE;
        }
    };

    let code = app.run_return(|handle, event| match event {
        // The last window closing (or hiding) is not the end: Quit is.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            // Quit drained the engine already; this covers any other way
            // out (stop is idempotent).
            if let Some(engine) = handle.try_state::<Engine>() {
                let engine = engine.inner().clone();
                tauri::async_runtime::block_on(engine.stop());
            }
        }
        _ => {}
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The engine could not start (e.g. no storage directory): say so on stderr
/// and in a dialog, then exit when the dialog is closed.
fn cannot_start(app: &tauri::AppHandle, error: &str) {
    use tauri_plugin_dialog::{DialogExt as _, MessageDialogKind};
    eprintln!("danemail-app: cannot start the service: {error}");
    let app = app.clone();
    app.dialog()
        .message(format!("DANE Mail cannot start.\n\n{error}"))
        .title("DANE Mail")
        .kind(MessageDialogKind::Error)
        .show(move |_| app.exit(1));
}
