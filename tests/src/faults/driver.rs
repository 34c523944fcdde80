//! Runs one schedule against real processes: a `jxc-hub serve`, agents
//! behind their proxies (some with a `jxc-agent run` in the background),
//! and the rogue site. It keeps, per agent, a model of the stock it holds,
//! every movement an agent command acknowledged and the customers it set,
//! and HQ's catalog, for the checker.

use super::crafted::{DocContext, Rogue};
use super::docs::{CatalogModel, CustomerModel, sale_counterparty};
use super::proxy::{Fault, Proxy, ProxyConfig};
use super::schedule::{
    AgentPlan, CATALOG, DEALER_POLICY, HOLD, LOCATIONS, LOTS, Line, Net, Op, PRODUCTS, ROGUE,
    Schedule, Step,
};
use super::{Counts, binaries};
use crate::{Hub, Running, Served, Site, free_port};
use jxc_shared::rng::Rng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// (location, sku, lot) → on hand in micro-units.
pub type Holdings = BTreeMap<(String, String, String), i64>;

/// A movement an agent command reported as written.
#[derive(Debug, Clone)]
pub struct Ack {
    /// Known when the command printed it; transfers print only their id.
    pub seq: Option<u64>,
    pub kind: &'static str,
    pub location: String,
    pub sku: String,
    pub lot: String,
    pub qty: i64,
    pub transfer_id: Option<String>,
    pub reference: Option<String>,
    /// The counterparty given, if any.
    pub counterparty: Option<String>,
}

pub struct Agent {
    pub plan: AgentPlan,
    pub site: Site,
    pub proxy: Proxy,
    pub daemon: Option<Running>,
    /// What the driver expects the agent to hold.
    pub model: Holdings,
    pub acks: Vec<Ack>,
    /// The customers this site registered, by id.
    pub customers: BTreeMap<String, CustomerModel>,
    /// Daemon starts, for log file names.
    starts: u32,
    /// When the daemon last started.
    started_at: Instant,
}

pub struct Driver {
    pub schedule: Schedule,
    pub rt: tokio::runtime::Runtime,
    pub hub: Hub,
    /// The hub processes, each on its port (`None` while killed): one, or
    /// several on one PostgreSQL database behind HAProxy.
    served: Vec<Option<Served>>,
    hub_ports: Vec<u16>,
    /// HAProxy in TCP pass-through in front of several hubs.
    balancer: Option<jxc_testkit::Haproxy>,
    /// Where agents and the checker reach the hub: the balancer, or the one hub.
    pub hub_port: u16,
    /// Hub kills so far, to take turns among several hubs.
    kills: usize,
    pub agents: Vec<Agent>,
    pub rogue: Rogue,
    /// What HQ's catalog must hold.
    pub catalog: CatalogModel,
    /// HQ's document actor, derived from the hub's CA.
    hub_actor: jxc_shared::docs::automerge::ActorId,
    pub counts: Counts,
    /// One-shot syncs left running (their hub was killed, say).
    background: Vec<(usize, Running, String)>,
    /// The steps run so far, for a failure report.
    pub trace: Vec<String>,
    /// Alter one movement on its way to the hub at the end, to prove the
    /// checker notices (see [`super::run_sabotaged`]).
    pub sabotage: bool,
    /// The same for one record of the dealer's outbound stream (see
    /// [`super::run_sabotaged_dealer`]).
    pub sabotage_dealer: bool,
    /// Have HQ set a branch customer's credit limit behind the model's back
    /// at the end, to prove the checker notices (see
    /// [`super::run_sabotaged_docs`]).
    pub sabotage_docs: bool,
    http: reqwest::Client,
}

/// A quantity in micro-units as the CLIs write it.
pub fn fmt_micro(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let (int, frac) = (a / 1_000_000, a % 1_000_000);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let f = format!("{frac:06}");
    format!("{sign}{int}.{}", f.trim_end_matches('0'))
}

/// A decimal text as micro-units, exactly.
/// The `which`-th (modulo) incoming transfer with something still to
/// receive, in id order; `None` when there is none.
fn open_incoming(a: &Agent, which: u32) -> Result<Option<Value>, String> {
    let incoming = a.json(&["transfer", "list", "--incoming"])?;
    let mut open: Vec<Value> = incoming
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t["remaining"]
                .as_str()
                .and_then(|r| micro(r).ok())
                .unwrap_or(0)
                > 0
        })
        .cloned()
        .collect();
    open.sort_by_key(|t| t["id"].as_str().unwrap_or("").to_owned());
    Ok((!open.is_empty()).then(|| open.swap_remove(which as usize % open.len())))
}

pub fn micro(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a quantity of at most 6 decimals");
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || frac.len() > 6 {
        return Err(bad());
    }
    let v: i64 = format!("{int}{frac:0<6}").parse().map_err(|_| bad())?;
    Ok(if neg { -v } else { v })
}

/// The smallest quantity of a product, in micro-units.
fn quantum(decimals: u32) -> i64 {
    10i64.pow(6 - decimals)
}

/// The decimals a quantity of `sku` may always have: a catalog product's
/// decimals only go up.
fn decimals_of(sku: &str) -> u32 {
    PRODUCTS
        .iter()
        .chain(&CATALOG)
        .find(|p| p.0 == sku)
        .map_or(0, |p| p.1)
}

/// Whether `sku` is one HQ may put in its catalog (not a site's own item).
pub fn is_catalog(sku: &str) -> bool {
    CATALOG.iter().any(|p| p.0 == sku)
}

/// `pct` percent of `on_hand`, in whole quanta, at least one quantum.
fn part(on_hand: i64, pct: u8, decimals: u32) -> i64 {
    let q = quantum(decimals);
    let take = on_hand * i64::from(pct) / 100 / q * q;
    take.max(q).min(on_hand)
}

fn money(cents: u32) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

impl Agent {
    /// A command of this agent's binary, with its clock skew.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = self.site.command(args);
        c.env("JXC_LOG", "warn")
            .env("JXC_CLOCK_SKEW_MS", self.plan.skew_ms.to_string());
        c
    }

    /// Runs a command; its exit code, stdout and stderr.
    fn output(&self, args: &[&str]) -> Result<(i32, String, String), String> {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run jxc-agent: {e}"))?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> Result<String, String> {
        let (code, out, err) = self.output(args)?;
        if code != 0 {
            return Err(format!(
                "{}: jxc-agent {} exited {code}: {}",
                self.plan.id,
                args.join(" "),
                err.trim()
            ));
        }
        Ok(out)
    }

    pub fn json(&self, args: &[&str]) -> Result<Value, String> {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a)?;
        serde_json::from_str(&out).map_err(|e| format!("{}: {a:?} is not JSON: {e}", self.plan.id))
    }

    /// Starts a background process with its output in a log file.
    fn spawn(&self, args: &[&str], log: &str) -> Result<Running, String> {
        let file = std::fs::File::create(self.site.dir.path().join(log))
            .map_err(|e| format!("create {log}: {e}"))?;
        let child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("spawn jxc-agent: {e}"))?;
        Ok(Running(Some(child)))
    }

    fn start_daemon(&mut self) -> Result<(), String> {
        self.starts += 1;
        self.started_at = Instant::now();
        let log = format!("run-{}.log", self.starts);
        self.daemon = Some(self.spawn(&["run", "--batch", "3"], &log)?);
        Ok(())
    }

    /// The non-zero lines of the model, in order.
    fn lines(&self) -> Vec<(String, String, String, i64)> {
        self.model
            .iter()
            .filter(|(_, q)| **q > 0)
            .map(|((l, s, lot), q)| (l.clone(), s.clone(), lot.clone(), *q))
            .collect()
    }

    fn line(&self, n: Line) -> Option<(String, String, String, i64)> {
        let lines = self.lines();
        (!lines.is_empty()).then(|| lines[n as usize % lines.len()].clone())
    }

    /// Like [`Agent::line`], among the lines of HQ's catalog products.
    fn catalog_line(&self, n: Line) -> Option<(String, String, String, i64)> {
        let lines: Vec<_> = self
            .lines()
            .into_iter()
            .filter(|l| is_catalog(&l.1))
            .collect();
        (!lines.is_empty()).then(|| lines[n as usize % lines.len()].clone())
    }

    fn add(&mut self, location: &str, sku: &str, lot: &str, qty: i64) {
        *self
            .model
            .entry((location.to_owned(), sku.to_owned(), lot.to_owned()))
            .or_default() += qty;
    }

    /// Records one movement: runs the command, reads the seq it printed.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        kind: &'static str,
        command: &str,
        location: &str,
        sku: &str,
        lot: &str,
        qty: i64,
        extra: &[&str],
        reference: &str,
    ) -> Result<(), String> {
        let qty_text = fmt_micro(if kind == "adjustment" { qty } else { qty.abs() });
        let mut args = vec![
            command,
            "--location",
            location,
            "--sku",
            sku,
            "--qty",
            &qty_text,
            "--ref",
            reference,
        ];
        if !lot.is_empty() {
            args.extend(["--lot", lot]);
        }
        args.extend_from_slice(extra);
        let out = self.ok(&args)?;
        let seq = out
            .strip_prefix('#')
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{}: no seq in {args:?} output {out:?}", self.plan.id))?;
        self.add(location, sku, lot, qty);
        let counterparty = extra
            .iter()
            .position(|a| *a == "--counterparty")
            .and_then(|i| extra.get(i + 1))
            .map(|c| (*c).to_owned());
        self.acks.push(Ack {
            seq: Some(seq),
            kind,
            location: location.to_owned(),
            sku: sku.to_owned(),
            lot: lot.to_owned(),
            qty,
            transfer_id: None,
            reference: Some(reference.to_owned()),
            counterparty,
        });
        Ok(())
    }
}

/// Waits until `cond` holds or `timeout` passes; whether it held.
fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Driver {
    /// Sets up the hub, the agents behind their proxies and the rogue site.
    pub fn new(schedule: Schedule) -> Result<Driver, String> {
        Driver::with_hubs(schedule, 1)
    }

    /// As [`Driver::new`] with `hubs` hub processes: more than one run on
    /// one PostgreSQL database behind HAProxy, and a hub kill takes down one
    /// of them while the others go on serving.
    pub fn with_hubs(schedule: Schedule, hubs: usize) -> Result<Driver, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let hubs = hubs.max(1);
        let hub = if hubs > 1 {
            Hub::on_postgres_with_binary(binaries().hub.clone())
        } else {
            Hub::with_binary(binaries().hub.clone())
        };
        let mut served = Vec::new();
        let mut hub_ports = Vec::new();
        for _ in 0..hubs {
            let (s, port) = start_hub(&hub, None)?;
            served.push(Some(s));
            hub_ports.push(port);
        }
        let balancer = if hubs > 1 {
            let backends: Vec<std::net::SocketAddr> = hub_ports
                .iter()
                .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], *p)))
                .collect();
            Some(jxc_testkit::Haproxy::start(&backends).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let hub_port = balancer.as_ref().map_or(hub_ports[0], |b| b.addr().port());
        let hub_url = format!("https://127.0.0.1:{hub_port}");
        let ca = hub.ca_pem();
        let http = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(ca.as_bytes()).map_err(|e| e.to_string())?
            ])
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        // Every site's token first, as HQ sets up its network before the
        // sites come online: the hub's directory then lists every site from
        // the first sync on, so no agent refuses a transfer to one that
        // enrolls after it.
        let tokens: Vec<String> = schedule
            .agents
            .iter()
            .map(|plan| hub.token(&plan.id, plan.kind))
            .collect();
        let mut agents = Vec::new();
        for (i, plan) in schedule.agents.iter().enumerate() {
            let site = Site::with_binary(&binaries().agent, &plan.id, plan.kind, &LOCATIONS);
            std::fs::write(
                site.dir.path().join("jxc-agent.toml"),
                "sync_interval_secs = 2\n",
            )
            .map_err(|e| e.to_string())?;
            for (sku, decimals, lots) in PRODUCTS {
                let d = decimals.to_string();
                let mut args = vec!["product", "add", sku, "--name", sku, "--decimals", &d];
                if lots {
                    args.push("--lot-tracked");
                }
                site.ok(&args);
            }
            let proxy = Proxy::start(
                rt.handle(),
                &ProxyConfig {
                    upstream: &hub_url,
                    hub_dir: &hub.data(),
                    agent_dir: &site.data(),
                    seed: schedule.seed ^ (i as u64 + 1),
                },
            )?;
            let mut agent = Agent {
                plan: plan.clone(),
                site,
                proxy,
                daemon: None,
                model: Holdings::new(),
                acks: Vec::new(),
                customers: BTreeMap::new(),
                starts: 0,
                started_at: Instant::now(),
            };
            agent.ok(&["enroll", "--hub", &agent.proxy.url(), "--token", &tokens[i]])?;
            if plan.kind == "dealer" {
                let mut args = vec!["share", "set"];
                args.extend(DEALER_POLICY);
                agent.ok(&args)?;
            }
            if plan.daemon {
                agent.start_daemon()?;
            }
            agents.push(agent);
        }
        let rogue_site = Site::with_binary(&binaries().agent, ROGUE, "branch", &["main"]);
        rogue_site.ok(&[
            "enroll",
            "--hub",
            &hub_url,
            "--token",
            &hub.token(ROGUE, "branch"),
        ]);
        // The hub bound the agent's actor as it enrolled: the rogue's good
        // edits use it; its bad ones use others.
        let actor = rogue_site.json(&["status"])["doc_actor"]
            .as_str()
            .and_then(|h| jxc_shared::docs::automerge::ActorId::try_from(h).ok())
            .ok_or("the rogue agent's status shows no doc_actor")?;
        let rogue = Rogue::new(
            &hub_url,
            &ca,
            &rogue_site.file("agent.pem"),
            &rogue_site.file("agent.key"),
            actor,
        )?;
        let hub_actor = jxc_shared::docs::hub_actor(
            &crate::pem_der(&ca).map_err(|e| format!("the hub's CA is {e}"))?,
        );
        let counts = Counts {
            skewed_agents: schedule.agents.iter().filter(|a| a.skew_ms != 0).count() as u64,
            ..Counts::default()
        };
        Ok(Driver {
            schedule,
            rt,
            hub,
            served,
            hub_ports,
            balancer,
            hub_port,
            kills: 0,
            agents,
            rogue,
            catalog: CatalogModel::new(),
            hub_actor,
            counts,
            background: Vec::new(),
            trace: Vec::new(),
            sabotage: false,
            sabotage_dealer: false,
            sabotage_docs: false,
            http,
        })
    }

    pub fn hub_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.hub_port)
    }

    /// GET an HQ endpoint of the hub with the admin's token.
    pub fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.hub_url());
        self.rt.block_on(async {
            let resp = self
                .http
                .get(&url)
                .bearer_auth(&self.hub.admin)
                .send()
                .await
                .map_err(|e| format!("GET {path}: {e}"))?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("GET {path}: {status}: {text}"));
            }
            serde_json::from_str(&text).map_err(|e| format!("GET {path}: not JSON: {e}"))
        })
    }

    /// Runs every step, then heals everything and syncs every agent.
    pub fn run(&mut self) -> Result<(), String> {
        let steps = self.schedule.steps.clone();
        for (i, step) in steps.iter().enumerate() {
            self.trace.push(format!("{i}: {step:?}"));
            self.step(i, step)
                .map_err(|e| format!("step {i} ({step:?}): {e}"))?;
        }
        self.converge()
    }

    fn step(&mut self, i: usize, step: &Step) -> Result<(), String> {
        match *step {
            Step::Work { agent, ref op } => self.work(i, agent, op),
            Step::Sync { agent, batch } => {
                self.counts.syncs += 1;
                let b = batch.to_string();
                let (code, _, err) = self.agents[agent].output(&["sync", "--batch", &b])?;
                match code {
                    0 | 7 => Ok(()),
                    _ => Err(format!("sync exited {code}: {}", err.trim())),
                }
            }
            Step::KillAgentMidSync { agent, nth } => self.kill_agent_mid_sync(agent, nth),
            Step::KillDaemon { agent } => {
                if let Some(d) = self.agents[agent].daemon.take() {
                    d.kill9();
                    self.counts.daemon_kills += 1;
                }
                Ok(())
            }
            Step::StartDaemon { agent } => {
                if self.agents[agent].daemon.is_none() {
                    self.agents[agent].start_daemon()?;
                }
                Ok(())
            }
            Step::KillHub => {
                if let Some(s) = self.take_a_hub() {
                    s.process.kill9();
                    self.counts.hub_kills += 1;
                }
                Ok(())
            }
            Step::KillHubMidSync {
                agent,
                nth,
                delay_ms,
            } => self.kill_hub_mid_sync(agent, nth, delay_ms),
            Step::RestartHub => self.restart_hub(),
            Step::Network { agent, net } => {
                let p = &self.agents[agent].proxy;
                match net {
                    Net::Cut => p.set(Fault::Cut, None),
                    Net::Heal => p.set(Fault::Pass, None),
                    Net::DropAnswer { times } => p.set(Fault::DropAnswer, Some(times)),
                    Net::Delay { ms, times } => {
                        p.set(Fault::Delay(Duration::from_millis(ms)), Some(times))
                    }
                    Net::Duplicate { times } => p.set(Fault::Duplicate, Some(times)),
                    Net::Replay { times } => p.set(Fault::Replay, Some(times)),
                }
                Ok(())
            }
            Step::Crafted { bad, salt } => {
                self.rogue.queue.push((bad, salt));
                if self.hub_up() {
                    self.flush_crafted()?;
                }
                Ok(())
            }
            Step::Doc(ref doc) => self.doc_step(i, doc),
            Step::Pause { ms } => {
                std::thread::sleep(Duration::from_millis(ms));
                Ok(())
            }
        }
    }

    /// Whether any hub process is serving.
    fn hub_up(&self) -> bool {
        self.served.iter().any(Option::is_some)
    }

    /// Takes one serving hub out of the set, taking turns when there are
    /// several (the others go on serving behind the balancer).
    fn take_a_hub(&mut self) -> Option<Served> {
        let n = self.served.len();
        let i = (0..n)
            .map(|k| (self.kills + k) % n)
            .find(|&i| self.served[i].is_some())?;
        self.kills += 1;
        self.served[i].take()
    }

    /// Starts every killed hub again on its port.
    fn restart_hub(&mut self) -> Result<(), String> {
        let mut restarted = false;
        for i in 0..self.served.len() {
            if self.served[i].is_none() {
                let (served, _) = start_hub(&self.hub, Some(self.hub_ports[i]))?;
                self.served[i] = Some(served);
                restarted = true;
            }
        }
        if restarted {
            self.counts.hub_restarts += 1;
            if self.balancer.is_some() {
                // The balancer takes a hub back after one passed health
                // check (every 500 ms): until then, with every hub just
                // down, it has nowhere to send a connection.
                std::thread::sleep(Duration::from_millis(600));
            }
            self.flush_crafted()?;
        }
        Ok(())
    }

    fn flush_crafted(&mut self) -> Result<(), String> {
        for (bad, salt) in std::mem::take(&mut self.rogue.queue) {
            if bad.is_doc() {
                let ctx = self.doc_context(salt)?;
                let n = self.rogue.craft_doc(self.rt.handle(), bad, salt, &ctx)?;
                self.counts.crafted_docs += n;
                continue;
            }
            let stolen = self.stolen_transfer()?;
            let hub = &self.hub;
            let rows = || {
                let out = hub
                    .command(&["quarantine", "--json"])
                    .output()
                    .map_err(|e| e.to_string())?;
                let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
                Ok(v.as_array().map_or(0, Vec::len))
            };
            self.rogue
                .craft(self.rt.handle(), bad, salt, stolen.as_deref(), rows)?;
            self.counts.crafted_bad += 1;
        }
        Ok(())
    }

    /// What a crafted document change names: HQ's actor, an honest site's
    /// actor, and a catalog product (one HQ added, else a new SKU).
    fn doc_context(&self, salt: u32) -> Result<DocContext, String> {
        let a = &self.agents[salt as usize % self.agents.len()];
        let status = a.json(&["status"])?;
        let hex = status["doc_actor"]
            .as_str()
            .ok_or_else(|| format!("{}: no doc_actor in {status}", a.plan.id))?;
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("doc_actor {hex}: {e}"))?;
        let skus: Vec<&String> = self.catalog.keys().collect();
        let catalog_sku = if skus.is_empty() {
            "RG-FAKE".to_owned()
        } else {
            skus[salt as usize / 7 % skus.len()].clone()
        };
        Ok(DocContext {
            hub_actor: self.hub_actor.clone(),
            foreign: (
                a.plan.id.clone(),
                jxc_shared::docs::automerge::ActorId::from(bytes.as_slice()),
            ),
            catalog_sku,
        })
    }

    /// A transfer the hub holds for some agent: the rogue tries to take it.
    fn stolen_transfer(&self) -> Result<Option<String>, String> {
        let t = self.get("/v1/transfers")?;
        Ok(t.as_array()
            .and_then(|rows| rows.first())
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned))
    }

    /// Spawns a one-shot sync of one movement per request.
    /// Spawns a one-shot sync of one movement per request; its log file.
    fn spawn_sync(&mut self, agent: usize, what: &str) -> Result<(Running, String), String> {
        self.counts.syncs += 1;
        let log = format!("{what}-{}.log", self.trace.len());
        let p = self.agents[agent].spawn(&["sync", "--batch", "1"], &log)?;
        Ok((p, log))
    }

    fn kill_agent_mid_sync(&mut self, agent: usize, nth: u32) -> Result<(), String> {
        let held = self.agents[agent].proxy.fault() == Fault::Pass;
        if held {
            self.agents[agent].proxy.set(Fault::Delay(HOLD), Some(nth));
        }
        let seen = self.agents[agent].proxy.stats().requests_seen();
        let (mut sync, _) = self.spawn_sync(agent, "killed-sync")?;
        let proxy = &self.agents[agent].proxy;
        let arrived = wait_for(Duration::from_secs(10), || {
            proxy.stats().requests_seen() >= seen + u64::from(nth) || sync.try_wait().is_some()
        });
        let running = sync.try_wait().is_none();
        let in_docs = proxy.stats().last_seen_was_docs();
        sync.kill9();
        if running && arrived && proxy.stats().requests_seen() > seen {
            self.counts.agent_kills_mid_sync += 1;
            if in_docs {
                self.counts.agent_kills_mid_docs += 1;
            }
        } else {
            self.counts.agent_kills_idle += 1;
        }
        if held {
            proxy.set(Fault::Pass, None);
        }
        Ok(())
    }

    fn kill_hub_mid_sync(&mut self, agent: usize, nth: u32, delay_ms: u64) -> Result<(), String> {
        let Some(served) = self.take_a_hub() else {
            return Ok(());
        };
        let forwarded = self.agents[agent].proxy.stats().forwarded_count();
        let (mut sync, log) = self.spawn_sync(agent, "hub-killed-sync")?;
        let proxy = &self.agents[agent].proxy;
        let arrived = wait_for(Duration::from_secs(10), || {
            proxy.stats().forwarded_count() >= forwarded + u64::from(nth)
                || sync.try_wait().is_some()
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        let mid = arrived && sync.try_wait().is_none();
        let in_docs = proxy.stats().last_forwarded_was_docs();
        served.process.kill9();
        if mid {
            self.counts.hub_kills_mid_sync += 1;
            if in_docs {
                self.counts.hub_kills_mid_docs += 1;
            }
        } else {
            self.counts.hub_kills += 1;
        }
        self.background.push((agent, sync, log));
        Ok(())
    }

    fn work(&mut self, step: usize, agent: usize, op: &Op) -> Result<(), String> {
        let reference = format!("DOC-{}-{step}", self.schedule.seed);
        let n = self.agents.len();
        let a = &mut self.agents[agent];
        let product = |i: u8| PRODUCTS[i as usize % PRODUCTS.len()];
        let lot_of = |tracked: bool, i: u8| {
            if tracked {
                LOTS[i as usize % LOTS.len()].to_owned()
            } else {
                String::new()
            }
        };
        let amount_of = |decimals: u32, amount: u32| -> i64 {
            let units = if decimals == 0 {
                i64::from(amount % 40 + 1)
            } else {
                i64::from(amount)
            };
            units * quantum(decimals)
        };
        self.counts.local_ops += 1;
        if let Op::ReceiveCatalog {
            which,
            lot,
            amount,
            cost_cents,
        } = *op
        {
            // A catalog product this agent holds: it has synced since HQ
            // added it. The hub's catalog is the driver's model.
            let listed = a.json(&["product", "list"])?;
            let held: Vec<(&str, u32, bool)> = CATALOG
                .iter()
                .copied()
                .filter(|(sku, _, _)| {
                    self.catalog.contains_key(*sku)
                        && listed
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|p| p["sku"] == *sku)
                })
                .collect();
            if held.is_empty() {
                self.counts.skipped_ops += 1;
                return Ok(());
            }
            let (sku, decimals, tracked) = held[which as usize % held.len()];
            let cost = money(cost_cents);
            self.counts.catalog_receipts += 1;
            return a.record(
                "receipt",
                "receive",
                LOCATIONS[0],
                sku,
                &lot_of(tracked, lot),
                amount_of(decimals, amount),
                &["--cost", &cost, "--counterparty", "总部, \"HQ\" 配送"],
                &reference,
            );
        }
        match *op {
            Op::Receive {
                location,
                product: p,
                lot,
                amount,
                cost_cents,
            }
            | Op::Opening {
                location,
                product: p,
                lot,
                amount,
                cost_cents,
            } => {
                let (sku, decimals, tracked) = product(p);
                let (kind, command) = match op {
                    Op::Opening { .. } => ("opening", "opening"),
                    _ => ("receipt", "receive"),
                };
                let cost = money(cost_cents);
                a.record(
                    kind,
                    command,
                    LOCATIONS[location as usize % LOCATIONS.len()],
                    sku,
                    &lot_of(tracked, lot),
                    amount_of(decimals, amount),
                    &["--cost", &cost, "--counterparty", "杭州茶厂, 一部"],
                    &reference,
                )
            }
            Op::CustomerReturn {
                location,
                product: p,
                lot,
                amount,
                price_cents,
            } => {
                let (sku, decimals, tracked) = product(p);
                let price = money(price_cents);
                a.record(
                    "customer_return",
                    "return",
                    LOCATIONS[location as usize % LOCATIONS.len()],
                    sku,
                    &lot_of(tracked, lot),
                    amount_of(decimals, amount),
                    &["--price", &price, "--counterparty", "张三, 有限公司"],
                    &reference,
                )
            }
            Op::Sell {
                line,
                pct,
                price_cents,
                customer,
            } => {
                let Some((loc, sku, lot, q)) = a.line(line) else {
                    self.counts.skipped_ops += 1;
                    return Ok(());
                };
                let take = part(q, pct, decimals_of(&sku));
                let price = money(price_cents);
                let (to, registered) = sale_counterparty(&a.customers, customer);
                if registered {
                    self.counts.sales_registered += 1;
                } else {
                    self.counts.sales_walk_in += 1;
                }
                a.record(
                    "sale",
                    "sell",
                    &loc,
                    &sku,
                    &lot,
                    -take,
                    &["--price", &price, "--counterparty", &to],
                    &reference,
                )
            }
            Op::ReceiveCatalog { .. } => unreachable!("handled above"),
            Op::SupplierReturn { line, pct } | Op::Scrap { line, pct } => {
                let Some((loc, sku, lot, q)) = a.line(line) else {
                    self.counts.skipped_ops += 1;
                    return Ok(());
                };
                let take = part(q, pct, decimals_of(&sku));
                if matches!(op, Op::Scrap { .. }) {
                    a.record(
                        "scrap",
                        "scrap",
                        &loc,
                        &sku,
                        &lot,
                        -take,
                        &["--reason", "包装破损, 报损"],
                        &reference,
                    )
                } else {
                    a.record(
                        "supplier_return",
                        "return-to-supplier",
                        &loc,
                        &sku,
                        &lot,
                        -take,
                        &[],
                        &reference,
                    )
                }
            }
            Op::Adjust { line, pct, up } => {
                let Some((loc, sku, lot, q)) = a.line(line) else {
                    self.counts.skipped_ops += 1;
                    return Ok(());
                };
                let take = part(q, pct, decimals_of(&sku));
                let qty = if up { take } else { -take };
                a.record(
                    "adjustment",
                    "adjust",
                    &loc,
                    &sku,
                    &lot,
                    qty,
                    &["--reason", "盘点差异"],
                    &reference,
                )
            }
            Op::TransferLocal { line, pct } | Op::TransferRemote { line, pct, .. } => {
                // A dealer's own items never leave it, not even in a
                // transfer: between a dealer and another site only HQ's
                // products move.
                let remote = matches!(op, Op::TransferRemote { .. });
                let chosen = if remote && a.plan.kind == "dealer" {
                    a.catalog_line(line)
                } else {
                    a.line(line)
                };
                let Some((loc, sku, lot, q)) = chosen else {
                    self.counts.skipped_ops += 1;
                    return Ok(());
                };
                let take = part(q, pct, decimals_of(&sku));
                let agents = &self.schedule.agents;
                let to = match *op {
                    Op::TransferRemote { to, .. } => {
                        let mut other = (agent + 1 + to as usize % (n - 1)) % n;
                        while agents[other].kind == "dealer" && !is_catalog(&sku) {
                            other = (other + 1) % n;
                            if other == agent {
                                other = (other + 1) % n;
                            }
                        }
                        format!("{}/main", agents[other].id)
                    }
                    _ => {
                        let other = if loc == LOCATIONS[0] {
                            LOCATIONS[1]
                        } else {
                            LOCATIONS[0]
                        };
                        format!("{}/{other}", a.plan.id)
                    }
                };
                let qty = fmt_micro(take);
                let mut args = vec![
                    "transfer", "send", "--from", &loc, "--to", &to, "--sku", &sku, "--qty", &qty,
                    "--ref", &reference,
                ];
                if !lot.is_empty() {
                    args.extend(["--lot", &lot]);
                }
                let out = a.ok(&args)?;
                let id = out.lines().last().unwrap_or("").trim().to_owned();
                if id.is_empty() {
                    return Err(format!("no transfer id in {out:?}"));
                }
                a.add(&loc, &sku, &lot, -take);
                a.acks.push(Ack {
                    seq: None,
                    kind: "transfer_out",
                    location: loc.clone(),
                    sku: sku.clone(),
                    lot: lot.clone(),
                    qty: -take,
                    transfer_id: Some(id.clone()),
                    reference: Some(reference.clone()),
                    counterparty: None,
                });
                if let Some(to_loc) = to.strip_prefix(&format!("{}/", a.plan.id)) {
                    let to_loc = to_loc.to_owned();
                    a.add(&to_loc, &sku, &lot, take);
                    a.acks.push(Ack {
                        seq: None,
                        kind: "transfer_in",
                        location: to_loc,
                        sku,
                        lot,
                        qty: take,
                        transfer_id: Some(id),
                        reference: Some(reference),
                        counterparty: None,
                    });
                    self.counts.transfers_local += 1;
                } else {
                    self.counts.transfers_sent += 1;
                    let dealer_site =
                        |id: &str| agents.iter().any(|p| p.id == id && p.kind == "dealer");
                    if dealer_site(&a.plan.id) || to.split('/').next().is_some_and(dealer_site) {
                        self.counts.dealer_transfers += 1;
                    }
                }
                Ok(())
            }
            Op::ReceiveIncoming { which, pct } => {
                let Some(t) = open_incoming(a, which)? else {
                    self.counts.skipped_ops += 1;
                    return Ok(());
                };
                let t = &t;
                let text = |k: &str| -> String { t[k].as_str().unwrap_or("").to_owned() };
                let (id, to_loc, sku, lot) =
                    (text("id"), text("to_location"), text("sku"), text("lot"));
                let remaining = micro(&text("remaining"))?;
                let qty = match pct {
                    Some(p) => part(remaining, p, decimals_of(&sku)),
                    None => remaining,
                };
                let qty_text = fmt_micro(qty);
                let out = a.ok(&["transfer", "receive", &id, "--qty", &qty_text])?;
                let seq = out
                    .strip_prefix('#')
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("no seq in the receive output {out:?}"))?;
                a.add(&to_loc, &sku, &lot, qty);
                a.acks.push(Ack {
                    seq: Some(seq),
                    kind: "transfer_in",
                    location: to_loc,
                    sku,
                    lot,
                    qty,
                    transfer_id: Some(id),
                    reference: None,
                    counterparty: None,
                });
                self.counts.transfers_received += 1;
                Ok(())
            }
            Op::CancelTransfer { which } => {
                // Transfers to another site this agent has not cancelled.
                let sent = a.json(&["transfer", "list"])?;
                let mut open: Vec<&Value> = sent
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| t["status"] == "sent")
                    .collect();
                open.sort_by_key(|t| t["id"].as_str().unwrap_or("").to_owned());
                if open.is_empty() {
                    self.counts.skipped_ops += 1;
                    return Ok(());
                }
                let t = open[which as usize % open.len()];
                let text = |k: &str| -> String { t[k].as_str().unwrap_or("").to_owned() };
                let (id, from, sku) = (text("id"), text("from_location"), text("sku"));
                let lot = text("lot");
                let qty = micro(&text("qty"))?;
                let out = a.ok(&["transfer", "cancel", &id])?;
                let seq = out
                    .strip_prefix('#')
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("no seq in the cancel output {out:?}"))?;
                a.add(&from, &sku, &lot, qty);
                a.acks.push(Ack {
                    seq: Some(seq),
                    kind: "transfer_in",
                    location: from,
                    sku,
                    lot,
                    qty,
                    transfer_id: Some(id),
                    reference: Some("cancelled".into()),
                    counterparty: None,
                });
                self.counts.transfers_cancelled += 1;
                Ok(())
            }
            Op::CloseIncoming { which } => {
                let Some(t) = open_incoming(a, which)? else {
                    self.counts.skipped_ops += 1;
                    return Ok(());
                };
                let t = &t;
                let text = |k: &str| -> String { t[k].as_str().unwrap_or("").to_owned() };
                let (id, to_loc, sku, lot) =
                    (text("id"), text("to_location"), text("sku"), text("lot"));
                let short = micro(&text("remaining"))?;
                let out = a.ok(&["transfer", "close", &id])?;
                // "#IN #SCRAP transfer … closed short: …"
                let seqs: Vec<u64> = out
                    .split_whitespace()
                    .take(2)
                    .filter_map(|w| w.strip_prefix('#')?.parse().ok())
                    .collect();
                let [arrived, lost] = seqs[..] else {
                    return Err(format!("no seqs in the close output {out:?}"));
                };
                for (seq, kind, qty) in [(arrived, "transfer_in", short), (lost, "scrap", -short)] {
                    a.acks.push(Ack {
                        seq: Some(seq),
                        kind,
                        location: to_loc.clone(),
                        sku: sku.clone(),
                        lot: lot.clone(),
                        qty,
                        transfer_id: (kind == "transfer_in").then(|| id.clone()),
                        reference: None,
                        counterparty: None,
                    });
                }
                self.counts.transfers_closed += 1;
                Ok(())
            }
            Op::Stocktake {
                location,
                lines,
                sale_during,
                salt,
            } => {
                let loc = LOCATIONS[location as usize % LOCATIONS.len()];
                let mut rng = Rng::new(u64::from(salt));
                let mut here: Vec<_> = a.lines().into_iter().filter(|l| l.0 == loc).collect();
                let mut chosen = Vec::new();
                while chosen.len() < lines as usize && !here.is_empty() {
                    chosen.push(here.remove(rng.below(here.len() as u64) as usize));
                }
                if chosen.is_empty() {
                    self.counts.skipped_ops += 1;
                    return Ok(());
                }
                a.ok(&["count", "start", "--location", loc])?;
                let mut expected = BTreeMap::new();
                for (i, (_, sku, lot, book)) in chosen.iter().enumerate() {
                    let q = quantum(decimals_of(sku));
                    let counted = (book + (rng.below(7) as i64 - 3) * q).max(0);
                    let counted_text = fmt_micro(counted);
                    let mut args = vec!["count", "set", sku, &counted_text, "--location", loc];
                    if !lot.is_empty() {
                        args.extend(["--lot", lot]);
                    }
                    a.ok(&args)?;
                    expected.insert((sku.clone(), lot.clone()), counted - book);
                    // Sold after it was counted: the count must not undo the
                    // sale. Only goods that were counted can be sold (more
                    // would take the line below zero once the count posts).
                    let take = part(*book, 20, decimals_of(sku)).min(counted);
                    if sale_during && i == 0 && take > 0 {
                        a.record(
                            "sale",
                            "sell",
                            loc,
                            sku,
                            lot,
                            -take,
                            &["--price", "1.5", "--counterparty", "盘点中, 客户"],
                            &reference,
                        )?;
                    }
                }
                let report = a.json(&["count", "post", "--location", loc])?;
                for line in report["lines"].as_array().into_iter().flatten() {
                    let sku = line["sku"].as_str().unwrap_or("").to_owned();
                    let lot = line["lot"].as_str().unwrap_or("").to_owned();
                    let variance = micro(line["variance"].as_str().unwrap_or(""))?;
                    let want = expected.get(&(sku.clone(), lot.clone())).copied();
                    if want != Some(variance) {
                        return Err(format!(
                            "count at {loc}: {sku} {lot:?} variance {variance}, expected {want:?}: {report}"
                        ));
                    }
                    if let Some(seq) = line["seq"].as_u64() {
                        a.add(loc, &sku, &lot, variance);
                        a.acks.push(Ack {
                            seq: Some(seq),
                            kind: "adjustment",
                            location: loc.to_owned(),
                            sku,
                            lot,
                            qty: variance,
                            transfer_id: None,
                            reference: None,
                            counterparty: None,
                        });
                    }
                }
                self.counts.stocktakes += 1;
                Ok(())
            }
        }
    }

    /// The end of every schedule: the network heals, the hub comes back,
    /// background processes stop, and every agent syncs until the hub holds
    /// everything and every receiver has heard of its transfers.
    fn converge(&mut self) -> Result<(), String> {
        self.trace.push("converge".into());
        for a in &self.agents {
            a.proxy.set(Fault::Pass, None);
        }
        self.restart_hub()?;
        self.flush_crafted()?;
        for a in &mut self.agents {
            if let Some(d) = a.daemon.take() {
                // A daemon that has just started may not handle SIGTERM
                // yet (its default action ends it at once): give it time.
                let ready = a.started_at + Duration::from_millis(1500);
                std::thread::sleep(ready.saturating_duration_since(Instant::now()));
                stop_gracefully(d, &a.plan.id)?;
            }
        }
        for (agent, mut p, log) in std::mem::take(&mut self.background) {
            let done = wait_for(Duration::from_secs(60), || p.try_wait().is_some());
            if !done {
                return Err(format!(
                    "{}: a one-shot sync was still running 60 s after its hub was killed",
                    self.agents[agent].plan.id
                ));
            }
            let out = p.wait();
            if !matches!(out.status.code(), Some(0 | 7)) {
                let said = std::fs::read_to_string(self.agents[agent].site.dir.path().join(&log))
                    .unwrap_or_default();
                return Err(format!(
                    "{}: a one-shot sync whose hub was killed exited {:?}: {}",
                    self.agents[agent].plan.id,
                    out.status.code(),
                    said.trim()
                ));
            }
        }
        if self.sabotage {
            let a = &mut self.agents[0];
            a.record(
                "receipt",
                "receive",
                "main",
                "TEA",
                "",
                1_000_000,
                &["--cost", "2"],
                "SABOTAGE",
            )?;
            a.proxy.set(Fault::Tamper, Some(1));
        }
        if self.sabotage_dealer {
            let a = self
                .agents
                .iter_mut()
                .find(|a| a.plan.kind == "dealer")
                .ok_or("no dealer to sabotage")?;
            // It holds HQ's catalog once it has synced (the first import
            // has CT-1): a receipt of it is published, and altered on the way.
            a.ok(&["sync"])?;
            a.record(
                "receipt",
                "receive",
                "main",
                CATALOG[0].0,
                "",
                1_000_000,
                &["--cost", "2"],
                "SABOTAGE",
            )?;
            a.proxy.set(Fault::Tamper, Some(1));
        }
        // Three rounds: senders push, receivers then learn of transfers, and
        // the last finds nothing left to do, documents included. An honest
        // site's document change is never refused.
        for round in 0..3 {
            for a in &self.agents {
                let r = a.json(&["sync"])?;
                let docs = &r["docs"];
                if docs["refused"].as_array().is_none_or(|x| !x.is_empty()) {
                    return Err(format!(
                        "{}: the hub refused a document change of an honest site: {r}",
                        a.plan.id
                    ));
                }
                if round == 2
                    && (r["sent"] != 0
                        || r["incoming"] != 0
                        || docs["changes_sent"] != 0
                        || docs["docs_updated"] != 0)
                {
                    return Err(format!(
                        "{}: the third sync after healing still moved data: {r}",
                        a.plan.id
                    ));
                }
            }
        }
        if self.sabotage_docs {
            let site = self.agents[1].plan.id.clone();
            let id = self
                .hub_customer_ids(&site)?
                .into_iter()
                .next()
                .ok_or("no customer of a branch at the hub to sabotage")?;
            self.hub_ok(&[
                "customer".into(),
                "set".into(),
                site,
                id,
                "--credit-limit".into(),
                "77777.77".into(),
            ])?;
            self.agents[1].ok(&["sync"])?;
        }
        Ok(())
    }
}

/// SIGTERM, as an operator stops the agent; SIGKILL after 10 s.
fn stop_gracefully(mut p: Running, id: &str) -> Result<(), String> {
    let pid = nix::unistd::Pid::from_raw(p.pid() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    if !wait_for(Duration::from_secs(10), || p.try_wait().is_some()) {
        p.kill9();
        return Err(format!(
            "{id}: jxc-agent run did not stop within 10 s of SIGTERM"
        ));
    }
    let code = p.wait().status.code();
    if code != Some(0) {
        return Err(format!("{id}: jxc-agent run exited {code:?} on SIGTERM"));
    }
    Ok(())
}

/// Starts `serve` on `port` (a free one when `None`), retrying while the
/// port is still held by the process that was just killed.
fn start_hub(hub: &Hub, port: Option<u16>) -> Result<(Served, u16), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = port.unwrap_or_else(free_port);
        match hub.try_start(Some(p)) {
            Ok(s) => return Ok((s, p)),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("the hub did not start on {p}: {e}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
