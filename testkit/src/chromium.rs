//! A throwaway headless Chromium (Debian's `chromium`) driven over the
//! DevTools protocol: enough of it for the dashboard's tests to open pages,
//! fill and submit forms, read the page, collect console errors, download a
//! file and save screenshots. One WebSocket to the browser, one page
//! attached to it in flat mode; every call blocks until its answer.

use std::ffi::OsString;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::proc::{RunAs, Watched, find_program, log_tail};
use crate::{Error, Result};

const START_TIMEOUT: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Chromium and its one page. Dropping it stops Chromium.
pub struct Chromium {
    _server: Watched,
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    /// Console errors, uncaught exceptions and failed loads seen so far.
    errors: Vec<String>,
    /// Page loads finished since the last `wait_load`.
    loads: usize,
    downloads: PathBuf,
}

impl Chromium {
    /// Starts headless Chromium with a fresh profile, opens a page of
    /// `width`×`height` and connects to it. Certificate errors are ignored
    /// (the hub's CA is its own); nothing is fetched but what a page asks.
    pub fn start(width: u32, height: u32) -> Result<Chromium> {
        let program = find_program("chromium").ok_or_else(|| {
            Error::new("chromium not found on PATH. Install it: apt-get install chromium")
        })?;
        let tmp = tempfile::Builder::new()
            .prefix("jxc-chromium-")
            .tempdir()
            .map_err(|e| Error::new(format!("cannot create a temporary directory: {e}")))?;
        let dir = tmp.path().to_path_buf();
        let profile = dir.join("profile");
        let downloads = dir.join("downloads");
        for d in [&profile, &downloads] {
            fs::create_dir_all(d)
                .map_err(|e| Error::new(format!("cannot create {}: {e}", d.display())))?;
        }
        let log = dir.join("chromium.log");
        let args: Vec<OsString> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--ignore-certificate-errors",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
        ]
        .iter()
        .map(OsString::from)
        .chain([
            OsString::from(format!("--user-data-dir={}", profile.display())),
            OsString::from("about:blank"),
        ])
        .collect();
        let mut server = Watched::spawn(&RunAs::Me, "TERM", &dir, &log, &program, &args)?;
        let _ = tmp.keep();
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + START_TIMEOUT;
        let (port, path) = loop {
            if let Ok(text) = fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.trim().to_owned(), path.trim().to_owned());
                }
            }
            if server.exited().is_some() {
                return Err(Error::new(format!(
                    "chromium exited at start:\n{}",
                    log_tail(&log, 2000)
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::new(format!(
                    "chromium wrote no DevToolsActivePort in {} s:\n{}",
                    START_TIMEOUT.as_secs(),
                    log_tail(&log, 2000)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stream = TcpStream::connect(format!("127.0.0.1:{port}"))
            .map_err(|e| Error::new(format!("cannot connect to chromium's port {port}: {e}")))?;
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .map_err(|e| Error::new(e.to_string()))?;
        let (ws, _) = tungstenite::client::client(format!("ws://127.0.0.1:{port}{path}"), stream)
            .map_err(|e| Error::new(format!("DevTools WebSocket: {e}")))?;
        let mut c = Chromium {
            _server: server,
            ws,
            session: String::new(),
            next_id: 0,
            errors: Vec::new(),
            loads: 0,
            downloads,
        };
        let target = c.browser_call("Target.createTarget", json!({ "url": "about:blank" }))?;
        let target_id = target["targetId"].as_str().unwrap_or_default().to_owned();
        let attached = c.browser_call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        )?;
        c.session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| Error::new(format!("no sessionId in {attached}")))?
            .to_owned();
        for m in ["Page.enable", "Runtime.enable", "Log.enable"] {
            c.call(m, json!({}))?;
        }
        c.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )?;
        let path = c.downloads.display().to_string();
        c.browser_call(
            "Browser.setDownloadBehavior",
            json!({ "behavior": "allow", "downloadPath": path }),
        )?;
        Ok(c)
    }

    fn send(&mut self, method: &str, params: Value, session: bool) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if session {
            msg["sessionId"] = Value::String(self.session.clone());
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .map_err(|e| Error::new(format!("{method}: {e}")))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let v = self.read(method, deadline)?;
            if v["id"].as_u64() == Some(id) {
                if let Some(err) = v.get("error") {
                    return Err(Error::new(format!("{method}: {err}")));
                }
                return Ok(v["result"].clone());
            }
        }
    }

    /// Reads the next message, noting the events it carries.
    fn read(&mut self, what: &str, deadline: Instant) -> Result<Value> {
        loop {
            if Instant::now() > deadline {
                return Err(Error::new(format!("{what}: no answer from chromium")));
            }
            let msg = self
                .ws
                .read()
                .map_err(|e| Error::new(format!("{what}: {e}")))?;
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(text.as_str())
                .map_err(|e| Error::new(format!("{what}: {e}")))?;
            self.note(&v);
            return Ok(v);
        }
    }

    fn note(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Page.loadEventFired") => self.loads += 1,
            Some("Runtime.exceptionThrown") => self.errors.push(format!(
                "exception: {}",
                p["exceptionDetails"]["exception"]["description"]
                    .as_str()
                    .or(p["exceptionDetails"]["text"].as_str())
                    .unwrap_or("?")
            )),
            Some("Runtime.consoleAPICalled") if p["type"] == "error" => {
                self.errors.push(format!("console.error: {}", p["args"]))
            }
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => self.errors.push(format!(
                "{}: {} {}",
                p["entry"]["source"].as_str().unwrap_or("log"),
                p["entry"]["text"].as_str().unwrap_or(""),
                p["entry"]["url"].as_str().unwrap_or("")
            )),
            _ => {}
        }
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.send(method, params, false)
    }

    /// A DevTools command on the page; its result.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.send(method, params, true)
    }

    /// Waits until a page load has finished since the last wait.
    pub fn wait_load(&mut self) -> Result<()> {
        let deadline = Instant::now() + CALL_TIMEOUT;
        while self.loads == 0 {
            self.read("waiting for the page to load", deadline)?;
        }
        self.loads = 0;
        Ok(())
    }

    /// Opens `url` and waits until it has loaded.
    pub fn open(&mut self, url: &str) -> Result<()> {
        self.loads = 0;
        let r = self.call("Page.navigate", json!({ "url": url }))?;
        if let Some(e) = r["errorText"].as_str() {
            return Err(Error::new(format!("{url}: {e}")));
        }
        self.wait_load()
    }

    /// The value of the JavaScript expression `js` in the page.
    pub fn eval(&mut self, js: &str) -> Result<Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": js, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(Error::new(format!("{js}: {e}")));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Runs `js`, which submits a form or follows a link, and waits for the
    /// page it leads to.
    pub fn eval_and_wait(&mut self, js: &str) -> Result<()> {
        self.loads = 0;
        self.eval(js)?;
        self.wait_load()
    }

    /// The errors the pages raised so far (console errors, uncaught
    /// exceptions, failed loads, refused by the security policy), emptied.
    pub fn take_errors(&mut self) -> Vec<String> {
        // Messages already sent stay in the socket until read: drain them.
        let _ = self.eval("0");
        std::mem::take(&mut self.errors)
    }

    /// Saves a PNG of the page as it is to `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<()> {
        use base64::Engine as _;
        let r = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        )?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or_default())
            .map_err(|e| Error::new(format!("screenshot: {e}")))?;
        if let Some(d) = path.parent() {
            fs::create_dir_all(d).map_err(|e| Error::new(e.to_string()))?;
        }
        fs::write(path, png).map_err(|e| Error::new(format!("{}: {e}", path.display())))
    }

    /// Runs `js` (which clicks a download link) and returns the name and
    /// bytes of the file the browser downloaded.
    pub fn download(&mut self, js: &str) -> Result<(String, Vec<u8>)> {
        for e in fs::read_dir(&self.downloads)
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_file(e.path());
        }
        self.eval(js)?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let done: Vec<PathBuf> = fs::read_dir(&self.downloads)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_none_or(|x| x != "crdownload"))
                .collect();
            if let Some(p) = done.first() {
                let bytes = fs::read(p).map_err(|e| Error::new(e.to_string()))?;
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                return Ok((name, bytes));
            }
            if Instant::now() > deadline {
                return Err(Error::new("no download arrived in 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
