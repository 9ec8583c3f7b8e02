//! The desktop app in a real window: Xvfb, a private D-Bus session with
//! gnome-keyring (the Secret Service), tauri-driver in front of WebKitGTK's
//! WebKitWebDriver, and the real `danemail-app` binary — driven over
//! WebDriver by fantoccini. Everything on loopback, all state in temp dirs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::{free_port, repo_root};

/// The app binary cargo built for this test.
pub fn app_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_danemail-app"))
}

/// tauri-driver: from PATH, else where tests/install-deps.sh puts it.
fn tauri_driver() -> PathBuf {
    let installed = dirs_home().join(".cache/danemail/tools/bin/tauri-driver");
    if installed.exists() {
        return installed;
    }
    PathBuf::from("tauri-driver")
}

fn dirs_home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from)
}

/// A display, a session bus with an unlocked keyring, and a throw-away HOME.
pub struct Desktop {
    pub home: tempfile::TempDir,
    pub env: HashMap<String, String>,
    children: Vec<Child>,
}

impl Desktop {
    pub fn start() -> Self {
        let home = tempfile::Builder::new()
            .prefix("dm-app-")
            .tempdir()
            .unwrap();
        let display = free_display();
        let xvfb = Command::new("Xvfb")
            .args([
                &format!(":{display}"),
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb (package xvfb)");
        wait_for(
            || Path::new(&format!("/tmp/.X11-unix/X{display}")).exists(),
            "Xvfb socket",
        );

        let runtime = home.path().join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1", "--nopidfile"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();

        let mut env = HashMap::new();
        env.insert("DISPLAY".into(), format!(":{display}"));
        env.insert("HOME".into(), home.path().display().to_string());
        env.insert("XDG_RUNTIME_DIR".into(), runtime.display().to_string());
        env.insert(
            "XDG_DATA_HOME".into(),
            home.path().join("data").display().to_string(),
        );
        env.insert(
            "XDG_CONFIG_HOME".into(),
            home.path().join("config").display().to_string(),
        );
        env.insert(
            "XDG_CACHE_HOME".into(),
            home.path().join("cache").display().to_string(),
        );
        env.insert("DBUS_SESSION_BUS_ADDRESS".into(), address);
        // Notifications and accessibility buses are not part of the test.
        env.insert("NO_AT_BRIDGE".into(), "1".into());
        env.insert(
            "RUST_LOG".into(),
            "info,hickory_proto=off,hickory_net=off,hickory_resolver=off".into(),
        );

        let keyring = Command::new("sh")
            .args(["-c", "printf unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1"])
            .envs(&env)
            .status()
            .expect("start gnome-keyring-daemon");
        assert!(keyring.success(), "gnome-keyring-daemon failed");
        Self {
            home,
            env,
            children: vec![xvfb, bus],
        }
    }

    pub fn display(&self) -> &str {
        &self.env["DISPLAY"]
    }

    /// Runs a command on this desktop (xdotool, import); returns stdout.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .envs(&self.env)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether a mapped (visible) top-level window with this title exists.
    pub fn window_visible(&self, title: &str) -> bool {
        !self
            .run("xdotool", &["search", "--onlyvisible", "--name", title])
            .trim()
            .is_empty()
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The app started through tauri-driver, and the WebDriver client on it.
pub struct AppSession {
    pub client: Client,
    driver: Child,
    pub log: PathBuf,
}

impl AppSession {
    /// Starts tauri-driver and, through it, the app with `args`.
    /// `extra_env` goes to the driver and so to WebKitWebDriver and the app.
    pub async fn launch(desktop: &Desktop, args: &[&str], extra_env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let native = free_port();
        let log = desktop.home.path().join(format!("driver-{port}.log"));
        let mut command = Command::new(tauri_driver());
        // Its own process group: a failing test kills the driver,
        // WebKitWebDriver and the app together (see Drop).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .args(["--native-driver", "/usr/bin/WebKitWebDriver"])
            .envs(&desktop.env)
            .envs(extra_env.iter().copied())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .expect("start tauri-driver (tests/install-deps.sh installs it)");
        wait_for(
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "tauri-driver port",
        );
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("wry"));
        capabilities.insert(
            "tauri:options".into(),
            json!({ "application": app_binary(), "args": args }),
        );
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("WebDriver session: {e}; driver log {}", log.display()));
        Self {
            client,
            driver,
            log,
        }
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // Drop kills what is left.
    }

    pub async fn find(&self, testid: &str) -> Element {
        self.wait_css(&format!("[data-testid=\"{testid}\"]")).await
    }

    /// Waits (up to 20 s) for an element matching `css`.
    pub async fn wait_css(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn click(&self, testid: &str) {
        self.find(testid).await.click().await.unwrap();
    }

    pub async fn text(&self, testid: &str) -> String {
        self.find(testid).await.text().await.unwrap()
    }

    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.wait_css(css).await.attr(name).await.unwrap()
    }

    /// Replaces an input's value.
    pub async fn fill(&self, testid: &str, value: &str) {
        let input = self.find(testid).await;
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    /// Polls `css`'s attribute `name` until it is `want` (or panics after `timeout`).
    pub async fn wait_attr(&self, css: &str, name: &str, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                last = element.attr(name).await.ok().flatten();
                if last.as_deref() == Some(want) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("{css} [{name}] is {last:?}, not {want:?} after {timeout:?}");
    }

    pub async fn nav(&self, view: &str) {
        self.click(&format!("nav-{view}")).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    /// Saves a screenshot of the window to `docs/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .expect("WebDriver screenshot");
        let dir = repo_root().join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Runs axe-core (from ui/node_modules) on the page; returns the
    /// violations as "id: help (n nodes)" lines.
    pub async fn axe(&self) -> Vec<String> {
        let source =
            std::fs::read_to_string(repo_root().join("ui/node_modules/axe-core/axe.min.js"))
                .expect("ui/node_modules/axe-core (npm ci in ui/)");
        self.client
            .execute(&source, vec![])
            .await
            .expect("inject axe-core");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, { resultTypes: ['violations'] })\
                   .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ' nodes: ' + v.nodes.map(n => n.target.join(' ')).join(', ') + ')')))\
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("run axe-core");
        serde_json::from_value(result).unwrap_or_default()
    }

    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("execute script")
    }

    pub fn driver_log(&self) -> String {
        let out = std::fs::read_to_string(&self.log).unwrap_or_default();
        let err = std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
        format!("{out}{err}")
    }
}

impl Drop for AppSession {
    fn drop(&mut self) {
        // The whole group: tauri-driver, WebKitWebDriver, the app.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

fn free_display() -> u32 {
    (90..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .expect("a free X display number")
}

pub fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}
