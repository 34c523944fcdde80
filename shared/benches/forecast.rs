//! Time of `plan::forecast` on one 365-day series, horizon 28: the hub plans
//! 1M such series (100 sites × 10,000 SKUs) in ≤ 60 s on 2 cores, so one
//! call must take well under 60 µs.
//!
//! `cargo bench -p jxc-shared --bench forecast`

use chrono::Weekday;
use criterion::{Criterion, criterion_group, criterion_main};
use jxc_shared::plan::forecast;
use jxc_shared::rng::Rng;
use std::hint::black_box;

/// Sales on about one day in six, 1–3 units: a typical SKU at a store.
fn intermittent(rng: &mut Rng) -> Vec<f64> {
    (0..365)
        .map(|_| {
            if rng.below(6) == 0 {
                1.0 + rng.below(3) as f64
            } else {
                0.0
            }
        })
        .collect()
}

/// Every day, weekends higher, with noise: a category at a store.
fn smooth(rng: &mut Rng) -> Vec<f64> {
    const WEEK: [f64; 7] = [10.0, 9.0, 9.0, 10.0, 12.0, 16.0, 14.0];
    (0..365)
        .map(|t| WEEK[t % 7] + rng.below(7) as f64 - 3.0)
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng::new(7);
    let sparse: Vec<Vec<f64>> = (0..64).map(|_| intermittent(&mut rng)).collect();
    let dense: Vec<Vec<f64>> = (0..64).map(|_| smooth(&mut rng)).collect();
    for (name, set) in [("intermittent", &sparse), ("smooth", &dense)] {
        let mut i = 0;
        c.bench_function(&format!("forecast 365d h28 {name}"), |b| {
            b.iter(|| {
                i = (i + 1) % set.len();
                black_box(forecast(black_box(&set[i]), Weekday::Mon, 28))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
