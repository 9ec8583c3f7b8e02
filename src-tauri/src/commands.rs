//! The window's commands (docs/APP-IPC.md): each one line onto one
//! `Engine` method, plus the two shell commands `app_info` and
//! `set_autostart`. Arguments arrive camelCase from JS; every command
//! returns `Result<T, UiError>`.

use std::path::PathBuf;

use danemail::service::view::{
    ActivityItem, ClientSettings, KeyView, LookupView, RecentLookup, RecordView, SelfCheckView,
    SettingsForm, Status, UiError,
};
use danemail::service::Engine;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt as _;

use crate::shell::{AppInfo, Shell};

type Res<T> = Result<T, UiError>;

pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        status,
        activity,
        lookup,
        recent_lookups,
        outbox_retry,
        outbox_delete,
        keys_list,
        keys_generate,
        keys_import,
        keys_export_cert,
        keys_record,
        keys_check,
        client_settings,
        save_ca,
        set_paused,
        settings,
        save_settings,
        finish_first_run,
        app_info,
        set_autostart,
    ]
}

#[tauri::command]
fn status(engine: State<'_, Engine>) -> Res<Status> {
    Ok(engine.status())
}

#[tauri::command]
fn activity(engine: State<'_, Engine>) -> Res<Vec<ActivityItem>> {
    Ok(engine.activity())
}

#[tauri::command]
async fn lookup(engine: State<'_, Engine>, addresses: Vec<String>) -> Res<Vec<LookupView>> {
    engine.lookup(addresses).await
}

#[tauri::command]
fn recent_lookups(engine: State<'_, Engine>) -> Res<Vec<RecentLookup>> {
    Ok(engine.recent_lookups())
}

#[tauri::command]
fn outbox_retry(engine: State<'_, Engine>, id: String) -> Res<()> {
    engine.outbox_retry(&id)
}

#[tauri::command]
fn outbox_delete(engine: State<'_, Engine>, id: String) -> Res<()> {
    engine.outbox_delete(&id)
}

#[tauri::command]
async fn keys_list(engine: State<'_, Engine>) -> Res<Vec<KeyView>> {
    engine.keys_list().await
}

#[tauri::command]
async fn keys_generate(
    engine: State<'_, Engine>,
    email: String,
    algorithm: String,
) -> Res<KeyView> {
    engine.keys_generate(email, algorithm).await
}

#[tauri::command]
async fn keys_import(engine: State<'_, Engine>, path: PathBuf, password: String) -> Res<KeyView> {
    engine.keys_import(path, password).await
}

#[tauri::command]
async fn keys_export_cert(engine: State<'_, Engine>, address: String, path: PathBuf) -> Res<()> {
    engine.keys_export_cert(address, path).await
}

#[tauri::command]
async fn keys_record(engine: State<'_, Engine>, address: String) -> Res<RecordView> {
    engine.keys_record(address).await
}

#[tauri::command]
async fn keys_check(engine: State<'_, Engine>, address: String) -> Res<SelfCheckView> {
    engine.keys_check(address).await
}

#[tauri::command]
async fn client_settings(engine: State<'_, Engine>) -> Res<ClientSettings> {
    engine.client_settings().await
}

#[tauri::command]
fn save_ca(engine: State<'_, Engine>, path: PathBuf) -> Res<()> {
    engine.save_ca(path)
}

#[tauri::command]
fn set_paused(engine: State<'_, Engine>, paused: bool) -> Res<Status> {
    Ok(engine.set_paused(paused))
}

#[tauri::command]
fn settings(engine: State<'_, Engine>) -> Res<SettingsForm> {
    Ok(engine.settings())
}

#[tauri::command]
async fn save_settings(
    engine: State<'_, Engine>,
    form: SettingsForm,
    upstream_password: Option<String>,
    inbound_password: Option<String>,
) -> Res<SettingsForm> {
    engine
        .save_settings(form, upstream_password, inbound_password)
        .await
}

#[tauri::command]
fn finish_first_run(engine: State<'_, Engine>) -> Res<()> {
    engine.finish_first_run()
}

#[tauri::command]
fn app_info(app: AppHandle, shell: State<'_, Shell>) -> Res<AppInfo> {
    Ok(shell.info(&app))
}

#[tauri::command]
fn set_autostart(app: AppHandle, shell: State<'_, Shell>, enabled: bool) -> Res<AppInfo> {
    let autolaunch = app.autolaunch();
    let result = if enabled {
        autolaunch.enable()
    } else {
        autolaunch.disable()
    };
    result.map_err(|e| UiError::new(format!("Could not change starting at login: {e}")))?;
    Ok(shell.info(&app))
}
