//! Runs randomized fault schedules against the real jxc binaries.
//!
//! `jxc-faults --seed N` replays one schedule (and prints its steps if it
//! fails); `jxc-faults --schedules N [--from S]` runs seeds S..S+N and prints
//! a summary table. `--hubs N` runs N hub processes on one PostgreSQL
//! database behind HAProxy, each hub kill taking down one of them. Exit 1
//! when any schedule failed, 2 on a usage error.

use jxc_e2e::faults::{Counts, Outcome, Size, binaries, replay_command, run_seed_on};
use std::time::Instant;

const USAGE: &str =
    "usage: jxc-faults [--seed N | --schedules N [--from S]] [--steps MIN-MAX] [--hubs N]";

struct Args {
    seeds: Vec<u64>,
    size: Size,
    single: bool,
    hubs: usize,
}

fn number(flag: &str, v: Option<String>) -> Result<u64, String> {
    v.as_deref()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{flag} needs a whole number\n{USAGE}"))
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut seed, mut schedules, mut from) = (None, None, 1);
    let mut size = Size::default();
    let mut hubs = 1;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--hubs" => {
                hubs = number("--hubs", it.next())? as usize;
                if !(1..=8).contains(&hubs) {
                    return Err(format!("--hubs {hubs} is not valid: use 1 to 8\n{USAGE}"));
                }
            }
            "--seed" => seed = Some(number("--seed", it.next())?),
            "--schedules" => schedules = Some(number("--schedules", it.next())?),
            "--from" => from = number("--from", it.next())?,
            "--steps" => {
                let v = it.next().unwrap_or_default();
                let (lo, hi) = v
                    .split_once('-')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    .filter(|(a, b)| a <= b)
                    .ok_or_else(|| format!("--steps takes MIN-MAX, such as 40-80\n{USAGE}"))?;
                size = Size {
                    min_steps: lo,
                    max_steps: hi,
                };
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(match (seed, schedules) {
        (Some(s), None) => Args {
            seeds: vec![s],
            size,
            single: true,
            hubs,
        },
        (None, n) => Args {
            seeds: (from..from + n.unwrap_or(10)).collect(),
            size,
            single: false,
            hubs,
        },
        (Some(_), Some(_)) => return Err(format!("give --seed or --schedules, not both\n{USAGE}")),
    })
}

fn report(o: &Outcome, verbose: bool) {
    match &o.result {
        Ok(()) => println!(
            "seed {}: ok ({} steps, {} movements checked, {:.1} s)",
            o.seed,
            o.steps,
            o.counts.movements_checked,
            o.elapsed.as_secs_f64()
        ),
        Err(e) => {
            println!(
                "seed {}: FAILED after {:.1} s: {e}",
                o.seed,
                o.elapsed.as_secs_f64()
            );
            if verbose {
                println!("steps run:");
                for t in &o.trace {
                    println!("  {t}");
                }
            }
            println!("  replay: {}", replay_command(o.seed));
        }
    }
}

/// Stopping the driver (SIGTERM, SIGINT) stops every hub and agent it
/// started: they share its process group, which is killed as a whole.
fn stop_everything_on_signal() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("jxc-faults: stopping, with every process it started");
            let _ = nix::sys::signal::killpg(nix::unistd::getpgrp(), nix::sys::signal::SIGKILL);
        });
    });
}

fn main() {
    stop_everything_on_signal();
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    // Built before the clock starts, so the first schedule is not charged for it.
    binaries();
    let start = Instant::now();
    let mut total = Counts::default();
    let mut failed = Vec::new();
    for &seed in &args.seeds {
        let o = run_seed_on(seed, args.size, args.hubs);
        report(&o, args.single);
        total.add(&o.counts);
        if o.result.is_err() {
            failed.push(seed);
        }
    }
    let elapsed = start.elapsed();
    let mut rows = vec![
        vec!["schedules run".to_owned(), args.seeds.len().to_string()],
        vec![
            "passed".to_owned(),
            (args.seeds.len() - failed.len()).to_string(),
        ],
        vec!["failed".to_owned(), failed.len().to_string()],
    ];
    rows.extend(
        total
            .rows()
            .into_iter()
            .map(|(k, v)| vec![k.to_owned(), v.to_string()]),
    );
    rows.push(vec![
        "wall time".to_owned(),
        format!("{:.1} s", elapsed.as_secs_f64()),
    ]);
    println!();
    print!("{}", jxc_shared::text::table(&["", "total"], &rows));
    if !failed.is_empty() {
        println!("\nfailed seeds:");
        for s in &failed {
            println!("  {}", replay_command(*s));
        }
        std::process::exit(1);
    }
}
