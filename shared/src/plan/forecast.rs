//! Daily demand forecasts for one series (a SKU at a site, or a category),
//! with the method chosen per series by a rolling-origin holdout.
//!
//! Every candidate's multi-step forecast repeats with a period of a week (a
//! flat level, or a level times a weekday profile), so a fitted model is a
//! `[f64; 7]` indexed by weekday. Each family of models runs one pass over
//! the history for all its parameter settings at once (fixed-size arrays on
//! the stack), copying its state at each holdout origin.
//!
//! Choice: the holdout is the last two 28-day windows (one 7-day window or
//! two for histories of 21–55 days from the first sale; under 21 days, the
//! 28-day mean). Within a family the parameters are those with the least
//! in-sample one-step squared error before the earliest origin; each method
//! is scored by the squared error of its forecasts from each origin over the
//! window after it. TSB is the default and another method replaces it only
//! when its holdout error is under 75% of TSB's (and the least): on the
//! development stores, where most series sell on few days, switching on any
//! improvement chased noise and scored worse. The chosen method's parameters
//! are then chosen again on the whole history, and its state at the end is
//! the forecast (the refit).

// The models run K parameter settings side by side as parallel arrays:
// loops over the lane index read clearest and the compiler vectorises them.
#![allow(clippy::needless_range_loop)]

use chrono::Weekday;

/// How a forecast was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// No demand in the history: zero.
    Zero,
    /// The mean of the last 28 days (histories too short for a holdout).
    Mean,
    /// The last 7 days repeated.
    SeasonalNaive,
    /// The mean of the same weekday over the last 4 weeks.
    SameWeekdayMean,
    /// Simple exponential smoothing: a flat level.
    Ses,
    /// Simple exponential smoothing of the series divided by a weekday
    /// profile (the weekday's share, shrunk towards 1), times the profile.
    SesWeekly,
    /// Additive Holt-Winters without trend, weekly season (ETS(A,N,A)).
    HoltWintersWeekly,
    /// Croston's method: smoothed demand size over smoothed interval.
    Croston,
    /// Syntetos-Boylan approximation: Croston times (1 − α/2).
    Sba,
    /// Teunter-Syntetos-Babai: smoothed demand size times a smoothed
    /// probability of demand, updated every day (so it decays when sales stop).
    Tsb,
}

impl Method {
    /// The snake_case name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Zero => "zero",
            Method::Mean => "mean",
            Method::SeasonalNaive => "seasonal_naive",
            Method::SameWeekdayMean => "same_weekday_mean",
            Method::Ses => "ses",
            Method::SesWeekly => "ses_weekly",
            Method::HoltWintersWeekly => "holt_winters_weekly",
            Method::Croston => "croston",
            Method::Sba => "sba",
            Method::Tsb => "tsb",
        }
    }

    /// Every method, in a fixed order (for tallies).
    pub const ALL: [Method; 10] = [
        Method::Zero,
        Method::Mean,
        Method::SeasonalNaive,
        Method::SameWeekdayMean,
        Method::Ses,
        Method::SesWeekly,
        Method::HoltWintersWeekly,
        Method::Croston,
        Method::Sba,
        Method::Tsb,
    ];
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A forecast of daily demand.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub method: Method,
    /// One value per day after the history; every value finite and ≥ 0.
    pub daily: Vec<f64>,
    /// Root mean squared error of the chosen method's daily forecasts on the
    /// holdout (in-sample one-step error, or the spread of the history, when
    /// it is too short for one): the σ of one day's error, for safety stock.
    /// Finite and ≥ 0.
    pub error_sd: f64,
    /// True when the history was empty.
    pub no_history: bool,
}

/// Days fitted at most: the last ones (about 2.8 years).
const MAX_FIT_DAYS: usize = 1024;
/// Days in one holdout window (the hub plans four weeks ahead).
const HOLDOUT: usize = 28;
/// Holdout windows, one after another, ending at the end of the history.
const MAX_FOLDS: usize = 2;
/// Parameter settings per family, run side by side in one pass.
const K: usize = 8;
/// Days at the start of a series not scored in-sample (the initial state).
const BURN_IN: usize = 7;
/// Days used to set the initial state.
const INIT_DAYS: usize = 28;
/// Another method replaces TSB only if its holdout squared error is below
/// this share of TSB's.
const SWITCH_MARGIN: f64 = 0.75;
/// Pseudo-units at the series mean added to each weekday's total: shrinks a
/// weekday profile towards flat when there are few units to estimate it.
const PROFILE_PSEUDO_UNITS: f64 = 10.0;

/// Forecast `horizon` days after `history` (oldest first, one value per
/// calendar day, `history[0]` on weekday `first`). Values below zero (net
/// returns) and non-finite values count as 0. Only the last 1,024 days are
/// fitted, and leading zero days (before the first sale) are ignored.
pub fn forecast(history: &[f64], first: Weekday, horizon: usize) -> Forecast {
    // Only the last MAX_FIT_DAYS days are fitted, copied clamped and scaled
    // onto the stack so that each model's pass reads plain values.
    let from = history.len().saturating_sub(MAX_FIT_DAYS);
    let window = &history[from..];
    let d0 = (first.num_days_from_monday() as usize + from) % 7;
    let Some(start) = window.iter().position(|&v| clamp(v) > 0.0) else {
        return Forecast {
            method: Method::Zero,
            daily: vec![0.0; horizon],
            error_sd: 0.0,
            no_history: history.is_empty(),
        };
    };
    let max = window.iter().fold(0.0f64, |m, &v| m.max(clamp(v)));
    // Fit on values of at most 1 so no square overflows; scale back at the end.
    let scale = if max > 1.0 { max } else { 1.0 };
    let inv = 1.0 / scale;
    let mut buf = [0.0f64; MAX_FIT_DAYS];
    for (b, &v) in buf.iter_mut().zip(window) {
        *b = clamp(v) * inv;
    }
    let n = window.len();
    let s = Series {
        h: &buf[..n],
        inv,
        d0,
    };
    let len = n - start;

    let (pattern, method, error_sd) = if len < 21 {
        short(&s, start)
    } else {
        let hv = if len >= 2 * HOLDOUT { HOLDOUT } else { 7 };
        let folds = ((len - hv) / hv).clamp(1, MAX_FOLDS);
        let mut origins = [0usize; MAX_FOLDS];
        for (i, o) in origins.iter_mut().take(folds).enumerate() {
            *o = n - hv * (folds - i);
        }
        let plan = Plan {
            start,
            n,
            origins,
            folds,
            hv,
        };
        choose(&s, &plan)
    };

    let mut daily = Vec::with_capacity(horizon);
    let mut d = (d0 + n) % 7;
    for _ in 0..horizon {
        daily.push(finite_nonneg(pattern[d] * scale));
        d = if d == 6 { 0 } else { d + 1 };
    }
    Forecast {
        method,
        daily,
        error_sd: finite_nonneg(error_sd * scale),
        no_history: false,
    }
}

/// The last 7 days repeated (`history.len() >= 7`); the mean of the history
/// when it is shorter; zero when empty. Negative values count as 0.
pub fn seasonal_naive(history: &[f64], horizon: usize) -> Vec<f64> {
    same_weekday_mean(history, 1, horizon)
}

/// For each day ahead, the mean of the same weekday over the last `weeks`
/// weeks (fewer when the history is shorter; `weeks == 0` counts as 1); the
/// mean of the history when it is shorter than a week; zero when empty.
/// Negative values count as 0.
pub fn same_weekday_mean(history: &[f64], weeks: usize, horizon: usize) -> Vec<f64> {
    let n = history.len();
    let weeks = weeks.max(1);
    let mut pattern = [0.0f64; 7];
    if n >= 7 {
        for (j, p) in pattern.iter_mut().enumerate() {
            // Each value over `weeks` first, so the sum cannot overflow.
            let (mut sum, mut cnt) = (0.0, 0usize);
            let mut i = n - 7 + j;
            for _ in 0..weeks {
                sum += clamp(history[i]) / weeks as f64;
                cnt += 1;
                if i < 7 {
                    break;
                }
                i -= 7;
            }
            *p = sum / cnt as f64 * weeks as f64;
        }
    } else if n > 0 {
        let mean = history.iter().map(|&v| clamp(v) / n as f64).sum::<f64>();
        pattern = [mean; 7];
    }
    (0..horizon)
        .map(|j| finite_nonneg(pattern[j % 7]))
        .collect()
}

/// A value as demand: negative and non-finite values are 0.
#[inline]
fn clamp(v: f64) -> f64 {
    if v > 0.0 && v.is_finite() { v } else { 0.0 }
}

#[inline]
fn finite_nonneg(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        0.0
    } else {
        v.min(f64::MAX)
    }
}

/// The history as the models read it: clamped and scaled to at most 1.
struct Series<'a> {
    h: &'a [f64],
    /// 1 / the scale: multiplies values in units (the profile's pseudo-units).
    inv: f64,
    /// Weekday (Monday 0) of `h[0]`.
    d0: usize,
}

impl Series<'_> {
    #[inline]
    fn y(&self, t: usize) -> f64 {
        self.h[t]
    }

    #[inline]
    fn dow(&self, t: usize) -> usize {
        (self.d0 + t) % 7
    }

    /// Mean, count of non-zero days and mean of the non-zero values over
    /// `days` days from `start` (fewer at the end of the history).
    fn init_stats(&self, start: usize, days: usize) -> (f64, usize, f64) {
        let end = (start + days).min(self.h.len());
        let (mut sum, mut nz) = (0.0, 0usize);
        for t in start..end {
            let y = self.y(t);
            sum += y;
            nz += usize::from(y > 0.0);
        }
        let m = (end - start).max(1) as f64;
        (sum / m, nz, if nz > 0 { sum / nz as f64 } else { 0.0 })
    }
}

/// Where the holdout windows are.
struct Plan {
    /// First day fitted (the first day with demand).
    start: usize,
    n: usize,
    /// Start of each holdout window, ascending; `origins[folds - 1] + hv == n`.
    origins: [usize; MAX_FOLDS],
    folds: usize,
    hv: usize,
}

/// One family of models, `K` parameter settings side by side.
trait Family: Copy {
    /// The settings `lo..hi` of each group are one method (one candidate).
    const GROUPS: &'static [(usize, usize)] = &[(0, K)];
    /// The method of group `g`.
    fn method(&self, g: usize) -> Method;
    /// Take in day `t`'s demand `y` on weekday `d`; add the one-step squared
    /// error to the in-sample score when `scored`.
    fn step(&mut self, y: f64, d: usize, scored: bool);
    /// In-sample squared error of each setting.
    fn sse(&self) -> &[f64; K];
    /// Setting `k`'s forecast by weekday, from the state now.
    fn pattern(&self, k: usize) -> [f64; 7];
}

/// A candidate's result: its holdout score and its refitted forecast.
struct Candidate {
    method: Method,
    holdout_sse: f64,
    pattern: [f64; 7],
}

/// The setting in `lo..hi` with the least error.
fn argmin(v: &[f64; K], (lo, hi): (usize, usize)) -> usize {
    let mut best = lo;
    for k in lo + 1..hi {
        if v[k] < v[best] {
            best = k;
        }
    }
    best
}

fn holdout_sse(s: &Series<'_>, from: usize, hv: usize, p: &[f64; 7]) -> f64 {
    let mut sse = 0.0;
    let mut d = s.dow(from);
    for t in from..from + hv {
        let e = s.y(t) - p[d].max(0.0);
        sse += e * e;
        d = if d == 6 { 0 } else { d + 1 };
    }
    sse
}

/// Run a family over the history, handing each of its methods to `consider`.
fn run<F: Family>(s: &Series<'_>, plan: &Plan, mut fam: F, consider: &mut impl FnMut(Candidate)) {
    let mut snaps = [fam; MAX_FOLDS];
    let scored_from = plan.start + BURN_IN;
    let mut t = plan.start;
    let mut d = s.dow(t);
    for i in 0..=plan.folds {
        let end = if i < plan.folds {
            plan.origins[i]
        } else {
            plan.n
        };
        while t < end {
            fam.step(s.y(t), d, t >= scored_from);
            t += 1;
            d = if d == 6 { 0 } else { d + 1 };
        }
        if i < plan.folds {
            snaps[i] = fam;
        }
    }
    for (g, &group) in F::GROUPS.iter().enumerate() {
        let k_fit = argmin(snaps[0].sse(), group);
        let mut sse = 0.0;
        for (i, snap) in snaps.iter().take(plan.folds).enumerate() {
            sse += holdout_sse(s, plan.origins[i], plan.hv, &snap.pattern(k_fit));
        }
        consider(Candidate {
            method: fam.method(g),
            holdout_sse: sse,
            pattern: fam.pattern(argmin(fam.sse(), group)),
        });
    }
}

/// A benchmark method, its pattern computed straight from the history
/// before each origin (weeks before the first sale are not counted).
fn direct(s: &Series<'_>, plan: &Plan, method: Method, weeks: usize) -> Candidate {
    let pattern_at = |end: usize| {
        let mut p = [0.0; 7];
        for j in 0..7 {
            let (mut sum, mut cnt) = (0.0, 0usize);
            let mut t = end - 7 + j;
            for _ in 0..weeks {
                if t < plan.start {
                    break;
                }
                sum += s.y(t);
                cnt += 1;
                if t < 7 {
                    break;
                }
                t -= 7;
            }
            p[s.dow(end - 7 + j)] = if cnt > 0 { sum / cnt as f64 } else { 0.0 };
        }
        p
    };
    let mut sse = 0.0;
    for i in 0..plan.folds {
        sse += holdout_sse(s, plan.origins[i], plan.hv, &pattern_at(plan.origins[i]));
    }
    Candidate {
        method,
        holdout_sse: sse,
        pattern: pattern_at(plan.n),
    }
}

/// Run every candidate and keep the best on the holdout.
fn choose(s: &Series<'_>, plan: &Plan) -> ([f64; 7], Method, f64) {
    // The first candidate (TSB) is the default. Holdout errors of series
    // this sparse are noisy: another method replaces it only when clearly
    // better (measured on the development stores: switching on any
    // improvement scored worse).
    let mut best: Option<Candidate> = None;
    let mut limit = f64::INFINITY;
    let mut consider = |c: Candidate| match &best {
        None => {
            limit = c.holdout_sse * SWITCH_MARGIN;
            best = Some(c);
        }
        Some(b) => {
            if c.holdout_sse < limit.min(b.holdout_sse) {
                best = Some(c);
            }
        }
    };
    run(s, plan, Tsb::new(s, plan.start), &mut consider);
    run(s, plan, Croston::new(s, plan.start), &mut consider);
    run(s, plan, Level::new(s, plan.start), &mut consider);
    run(s, plan, HoltWinters::new(s, plan.start), &mut consider);
    consider(direct(s, plan, Method::SameWeekdayMean, 4));
    consider(direct(s, plan, Method::SeasonalNaive, 1));
    let Some(best) = best else {
        return short(s, plan.start);
    };
    let days = (plan.folds * plan.hv) as f64;
    (best.pattern, best.method, (best.holdout_sse / days).sqrt())
}

/// Histories with fewer than 21 days from the first sale: the mean of the
/// last 28 days (counting zero days before the first sale within them).
fn short(s: &Series<'_>, start: usize) -> ([f64; 7], Method, f64) {
    let n = s.h.len();
    debug_assert!(start < n);
    let from = n.saturating_sub(INIT_DAYS);
    let m = (n - from) as f64;
    let mean = (from..n).map(|t| s.y(t)).sum::<f64>() / m;
    let var = (from..n).map(|t| (s.y(t) - mean).powi(2)).sum::<f64>() / m;
    ([mean; 7], Method::Mean, var.sqrt())
}

/// The weekday profile, learnt online from all days so far.
#[derive(Clone, Copy)]
struct Profile {
    sum: [f64; 7],
    cnt: [f64; 7],
    total: f64,
    days: f64,
}

impl Profile {
    fn new() -> Self {
        Profile {
            sum: [0.0; 7],
            cnt: [0.0; 7],
            total: 0.0,
            days: 0.0,
        }
    }

    #[inline]
    fn add(&mut self, y: f64, d: usize) {
        self.sum[d] += y;
        self.cnt[d] += 1.0;
        self.total += y;
        self.days += 1.0;
    }
}

/// Simple exponential smoothing: settings 0..4 of the series itself, 4..8
/// of the series divided by the weekday profile (times the profile).
#[derive(Clone, Copy)]
struct Level {
    /// Pseudo-units for the profile, relative to the series' scale.
    pseudo: f64,
    level: [f64; K],
    sse: [f64; K],
    profile: Profile,
}

const LEVEL_ALPHAS: [f64; K] = [0.02, 0.04, 0.08, 0.2, 0.02, 0.04, 0.08, 0.2];
const FLAT: (usize, usize) = (0, K / 2);
const WEEKLY: (usize, usize) = (K / 2, K);

impl Level {
    fn new(s: &Series<'_>, start: usize) -> Self {
        let (mean, _, _) = s.init_stats(start, INIT_DAYS);
        Level {
            pseudo: PROFILE_PSEUDO_UNITS * s.inv,
            level: [mean; K],
            sse: [0.0; K],
            profile: Profile::new(),
        }
    }

    /// The profile factor of each setting on weekday `d`.
    #[inline]
    fn ratios(&self, d: usize) -> [f64; K] {
        let r = self.profile.ratio_units(d, self.pseudo);
        std::array::from_fn(|k| if k < FLAT.1 { 1.0 } else { r })
    }
}

impl Profile {
    /// Weekday `d`'s demand relative to the mean day, with `pseudo_units`
    /// (scaled) at the mean added to its total.
    #[inline]
    fn ratio_units(&self, d: usize, pseudo_units: f64) -> f64 {
        if self.days <= 0.0 || self.total <= 0.0 {
            return 1.0;
        }
        let mean = self.total / self.days;
        (self.sum[d] + pseudo_units) / (self.cnt[d] * mean + pseudo_units)
    }
}

impl Family for Level {
    const GROUPS: &'static [(usize, usize)] = &[FLAT, WEEKLY];

    fn method(&self, g: usize) -> Method {
        if g == 0 {
            Method::Ses
        } else {
            Method::SesWeekly
        }
    }

    #[inline]
    fn step(&mut self, y: f64, d: usize, scored: bool) {
        let ratio = self.ratios(d);
        let x = y / ratio[K - 1];
        let x: [f64; K] = std::array::from_fn(|k| if k < FLAT.1 { y } else { x });
        if scored {
            for k in 0..K {
                let e = y - self.level[k] * ratio[k];
                self.sse[k] += e * e;
            }
        }
        for k in 0..K {
            self.level[k] += LEVEL_ALPHAS[k] * (x[k] - self.level[k]);
        }
        self.profile.add(y, d);
    }

    fn sse(&self) -> &[f64; K] {
        &self.sse
    }

    fn pattern(&self, k: usize) -> [f64; 7] {
        std::array::from_fn(|d| self.level[k] * self.ratios(d)[k])
    }
}

/// Additive Holt-Winters, no trend, weekly season.
#[derive(Clone, Copy)]
struct HoltWinters {
    level: [f64; K],
    /// `season[d][k]`: weekday first, so one day's update runs across `k`.
    season: [[f64; K]; 7],
    sse: [f64; K],
}

const HW_ALPHAS: [f64; K] = [0.02, 0.05, 0.1, 0.2, 0.02, 0.05, 0.1, 0.2];
const HW_GAMMAS: [f64; K] = [0.02, 0.02, 0.02, 0.02, 0.1, 0.1, 0.1, 0.1];

impl HoltWinters {
    fn new(s: &Series<'_>, start: usize) -> Self {
        let end = (start + 14).min(s.h.len());
        let (mut sum, mut cnt) = ([0.0; 7], [0.0; 7]);
        let mut total = 0.0;
        for t in start..end {
            let d = s.dow(t);
            sum[d] += s.y(t);
            cnt[d] += 1.0;
            total += s.y(t);
        }
        let mean = total / (end - start).max(1) as f64;
        let season: [[f64; K]; 7] = std::array::from_fn(|d| {
            [if cnt[d] > 0.0 {
                sum[d] / cnt[d] - mean
            } else {
                0.0
            }; K]
        });
        HoltWinters {
            level: [mean; K],
            season,
            sse: [0.0; K],
        }
    }
}

impl Family for HoltWinters {
    fn method(&self, _g: usize) -> Method {
        Method::HoltWintersWeekly
    }

    #[inline]
    fn step(&mut self, y: f64, d: usize, scored: bool) {
        let season = &mut self.season[d];
        let mut e = [0.0; K];
        for k in 0..K {
            e[k] = y - (self.level[k] + season[k]);
        }
        if scored {
            for k in 0..K {
                self.sse[k] += e[k] * e[k];
            }
        }
        for k in 0..K {
            self.level[k] += HW_ALPHAS[k] * e[k];
            season[k] += HW_GAMMAS[k] * (1.0 - HW_ALPHAS[k]) * e[k];
        }
    }

    fn sse(&self) -> &[f64; K] {
        &self.sse
    }

    fn pattern(&self, k: usize) -> [f64; 7] {
        std::array::from_fn(|d| (self.level[k] + self.season[d][k]).max(0.0))
    }
}

/// Teunter-Syntetos-Babai.
#[derive(Clone, Copy)]
struct Tsb {
    size: [f64; K],
    prob: [f64; K],
    sse: [f64; K],
}

const TSB_ALPHAS: [f64; K] = [0.05, 0.05, 0.05, 0.05, 0.2, 0.2, 0.2, 0.2];
const TSB_BETAS: [f64; K] = [0.02, 0.04, 0.08, 0.15, 0.02, 0.04, 0.08, 0.15];

impl Tsb {
    fn new(s: &Series<'_>, start: usize) -> Self {
        let (_, nz, size) = s.init_stats(start, INIT_DAYS);
        let days = INIT_DAYS.min(s.h.len() - start) as f64;
        Tsb {
            size: [size; K],
            prob: [nz as f64 / days; K],
            sse: [0.0; K],
        }
    }
}

impl Family for Tsb {
    fn method(&self, _g: usize) -> Method {
        Method::Tsb
    }

    #[inline]
    fn step(&mut self, y: f64, _d: usize, scored: bool) {
        if scored {
            for k in 0..K {
                let e = y - self.size[k] * self.prob[k];
                self.sse[k] += e * e;
            }
        }
        if y > 0.0 {
            for k in 0..K {
                self.size[k] += TSB_ALPHAS[k] * (y - self.size[k]);
                self.prob[k] += TSB_BETAS[k] * (1.0 - self.prob[k]);
            }
        } else {
            for k in 0..K {
                self.prob[k] -= TSB_BETAS[k] * self.prob[k];
            }
        }
    }

    fn sse(&self) -> &[f64; K] {
        &self.sse
    }

    fn pattern(&self, k: usize) -> [f64; 7] {
        [self.size[k] * self.prob[k]; 7]
    }
}

/// Croston's method (settings 0..4) and the Syntetos-Boylan approximation
/// (4..8, the same smoothing times 1 − α/2).
#[derive(Clone, Copy)]
struct Croston {
    size: [f64; K],
    interval: [f64; K],
    /// Days since the last demand.
    since: f64,
    /// The forecast per day of each setting (changes only on demand days).
    rate: [f64; K],
    sse: [f64; K],
}

const CROSTON_ALPHAS: [f64; K] = [0.05, 0.1, 0.2, 0.4, 0.05, 0.1, 0.2, 0.4];
const SBA: (usize, usize) = (K / 2, K);

impl Croston {
    fn new(s: &Series<'_>, start: usize) -> Self {
        let (_, nz, size) = s.init_stats(start, INIT_DAYS);
        let days = INIT_DAYS.min(s.h.len() - start) as f64;
        let interval = days / nz.max(1) as f64;
        let mut c = Croston {
            size: [size; K],
            interval: [interval; K],
            // The first demand (at `start`) then counts as one mean interval.
            since: interval - 1.0,
            rate: [0.0; K],
            sse: [0.0; K],
        };
        c.update_rate();
        c
    }

    fn update_rate(&mut self) {
        for k in 0..K {
            let bias = if k >= SBA.0 {
                1.0 - CROSTON_ALPHAS[k] / 2.0
            } else {
                1.0
            };
            self.rate[k] = bias * self.size[k] / self.interval[k];
        }
    }
}

impl Family for Croston {
    const GROUPS: &'static [(usize, usize)] = &[(0, K / 2), SBA];

    fn method(&self, g: usize) -> Method {
        if g == 0 { Method::Croston } else { Method::Sba }
    }

    #[inline]
    fn step(&mut self, y: f64, _d: usize, scored: bool) {
        if scored {
            for k in 0..K {
                let e = y - self.rate[k];
                self.sse[k] += e * e;
            }
        }
        if y > 0.0 {
            let q = self.since + 1.0;
            for k in 0..K {
                self.size[k] += CROSTON_ALPHAS[k] * (y - self.size[k]);
                self.interval[k] += CROSTON_ALPHAS[k] * (q - self.interval[k]);
            }
            self.since = 0.0;
            self.update_rate();
        } else {
            self.since += 1.0;
        }
    }

    fn sse(&self) -> &[f64; K] {
        &self.sse
    }

    fn pattern(&self, k: usize) -> [f64; 7] {
        [self.rate[k]; 7]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use proptest::prelude::*;

    fn check(f: &Forecast, horizon: usize) {
        assert_eq!(f.daily.len(), horizon);
        assert!(f.daily.iter().all(|v| v.is_finite() && *v >= 0.0), "{f:?}");
        assert!(f.error_sd.is_finite() && f.error_sd >= 0.0, "{f:?}");
    }

    /// A week of `shape` repeated over `days`, times noise in ±`noise`.
    fn weekly(shape: [f64; 7], days: usize, noise: f64, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..days)
            .map(|t| {
                let u = rng.below(2001) as f64 / 1000.0 - 1.0;
                shape[t % 7] * (1.0 + noise * u)
            })
            .collect()
    }

    #[test]
    fn empty_and_all_zero_histories_forecast_zero() {
        let f = forecast(&[], Weekday::Mon, 5);
        assert_eq!(f.method, Method::Zero);
        assert_eq!(f.daily, vec![0.0; 5]);
        assert!(f.no_history);
        assert_eq!(f.error_sd, 0.0);

        let f = forecast(&[0.0; 100], Weekday::Mon, 3);
        assert_eq!(f.method, Method::Zero);
        assert_eq!(f.daily, vec![0.0; 3]);
        assert!(!f.no_history);

        // Net-return days count as 0: only returns is no demand.
        let f = forecast(&[-2.0, 0.0, -1.0], Weekday::Mon, 2);
        assert_eq!(f.method, Method::Zero);
        assert!(!f.no_history);
        assert_eq!(
            forecast(&[1.0; 50], Weekday::Mon, 0).daily,
            Vec::<f64>::new()
        );
    }

    #[test]
    fn a_constant_series_forecasts_its_value() {
        let f = forecast(&[3.0; 365], Weekday::Wed, 28);
        check(&f, 28);
        for v in &f.daily {
            assert!((v - 3.0).abs() < 1e-9, "{f:?}");
        }
        assert!(f.error_sd < 1e-9);
    }

    #[test]
    fn negative_days_are_clamped_before_fitting() {
        let mut h = vec![2.0; 200];
        for v in h.iter_mut().step_by(5) {
            *v = -50.0;
        }
        let f = forecast(&h, Weekday::Mon, 14);
        check(&f, 14);
        // Four days in five at 2, one at 0: about 1.6 a day, far from the
        // 1.6 − 10 a day that the raw returns would give.
        let mean = f.daily.iter().sum::<f64>() / 14.0;
        assert!((1.2..=2.0).contains(&mean), "{f:?}");
    }

    #[test]
    fn a_strongly_weekly_series_picks_a_seasonal_method() {
        let shape = [2.0, 2.0, 3.0, 3.0, 8.0, 20.0, 18.0];
        let h = weekly(shape, 364, 0.05, 1);
        // h[0] is a Monday; 364 days later the next day is a Monday again.
        let f = forecast(&h, Weekday::Mon, 14);
        check(&f, 14);
        assert!(
            matches!(
                f.method,
                Method::SeasonalNaive
                    | Method::SameWeekdayMean
                    | Method::SesWeekly
                    | Method::HoltWintersWeekly
            ),
            "{:?}",
            f.method
        );
        for (j, v) in f.daily.iter().enumerate() {
            let want = shape[j % 7];
            assert!(
                (v - want).abs() < 0.25 * want + 0.5,
                "day {j}: {v} vs {want}"
            );
        }
    }

    #[test]
    fn the_weekday_of_the_first_day_places_the_pattern() {
        // Saturdays (only) sell: h[0] is a Sunday, so h[6] is a Saturday.
        let h: Vec<f64> = (0..210)
            .map(|t| if t % 7 == 6 { 10.0 } else { 0.0 })
            .collect();
        let f = forecast(&h, Weekday::Sun, 7);
        // 210 days from a Sunday: the first day ahead is a Sunday, the
        // seventh a Saturday.
        let top = (0..7)
            .max_by(|&a, &b| f.daily[a].total_cmp(&f.daily[b]))
            .unwrap();
        assert_eq!(top, 6, "{f:?}");
    }

    #[test]
    fn an_intermittent_series_picks_an_intermittent_method() {
        // A sale of 1–3 units about one day in nine, at no fixed weekday.
        let mut rng = Rng::new(3);
        let h: Vec<f64> = (0..365)
            .map(|_| {
                if rng.below(9) == 0 {
                    1.0 + rng.below(3) as f64
                } else {
                    0.0
                }
            })
            .collect();
        let f = forecast(&h, Weekday::Mon, 28);
        check(&f, 28);
        assert!(
            matches!(f.method, Method::Croston | Method::Sba | Method::Tsb),
            "{:?}",
            f.method
        );
        let mean = f.daily.iter().sum::<f64>() / 28.0;
        let hist = h.iter().sum::<f64>() / 365.0;
        assert!(mean > 0.3 * hist && mean < 3.0 * hist, "{mean} vs {hist}");
    }

    #[test]
    fn a_single_spike_gives_a_small_finite_forecast() {
        let mut h = vec![0.0; 365];
        h[100] = 40.0;
        let f = forecast(&h, Weekday::Mon, 28);
        check(&f, 28);
        assert!(f.daily.iter().all(|v| *v < 1.0), "{f:?}");

        // A spike on the last day: the mean of the last 28 days.
        let mut h = vec![0.0; 365];
        h[364] = 28.0;
        let f = forecast(&h, Weekday::Mon, 7);
        assert_eq!(f.method, Method::Mean);
        assert!(f.daily.iter().all(|v| (v - 1.0).abs() < 1e-12), "{f:?}");
    }

    #[test]
    fn a_trending_series_follows_the_recent_level() {
        let h: Vec<f64> = (0..365).map(|t| 10.0 + t as f64 / 10.0).collect();
        let f = forecast(&h, Weekday::Mon, 28);
        check(&f, 28);
        let mean = f.daily.iter().sum::<f64>() / 28.0;
        // The last days are about 46; the history's mean is about 28.
        assert!(mean > 40.0 && mean < 50.0, "{mean}");
    }

    #[test]
    fn short_histories_fall_back_sensibly() {
        for len in [1usize, 2, 6, 7, 13, 14, 20, 21, 27, 30, 55, 56, 60] {
            let h: Vec<f64> = (0..len).map(|t| (t % 3) as f64 + 1.0).collect();
            let f = forecast(&h, Weekday::Tue, 10);
            check(&f, 10);
            if len < 21 {
                assert_eq!(f.method, Method::Mean, "len {len}");
            }
            let mean = f.daily.iter().sum::<f64>() / 10.0;
            assert!((0.5..=3.5).contains(&mean), "len {len}: {f:?}");
        }
    }

    #[test]
    fn seasonal_naive_repeats_the_last_week() {
        let h: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(
            seasonal_naive(&h, 9),
            vec![4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 4.0, 5.0]
        );
        assert_eq!(seasonal_naive(&[1.0, 3.0], 2), vec![2.0, 2.0]);
        assert_eq!(seasonal_naive(&[], 2), vec![0.0, 0.0]);
        assert_eq!(seasonal_naive(&[-1.0; 7], 1), vec![0.0]);
    }

    #[test]
    fn same_weekday_mean_hand_computed() {
        // Day index t has value t (0..=20): three weeks.
        let h: Vec<f64> = (0..21).map(f64::from).collect();
        // Next day is weekday of t = 21 ≡ 0 mod 7: values 14, 7 (2 weeks).
        let f = same_weekday_mean(&h, 2, 8);
        assert_eq!(f[0], 10.5);
        assert_eq!(f[6], 16.5);
        assert_eq!(f[7], 10.5);
        // Four weeks asked, three held: 14, 7, 0 → 7.
        assert_eq!(same_weekday_mean(&h, 4, 1), vec![7.0]);
        assert_eq!(same_weekday_mean(&h, 0, 1), vec![14.0]);
    }

    #[test]
    fn huge_values_stay_finite() {
        let mut h = vec![0.0; 200];
        for (t, v) in h.iter_mut().enumerate() {
            *v = if t % 2 == 0 { f64::MAX } else { 0.0 };
        }
        let f = forecast(&h, Weekday::Mon, 14);
        check(&f, 14);
        let f = forecast(&[f64::MIN_POSITIVE / 4.0; 100], Weekday::Mon, 3);
        check(&f, 3);
    }

    #[test]
    fn method_names_are_snake_case_and_distinct() {
        let names: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
        for n in &names {
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{n}");
        }
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
    }

    fn demand() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => Just(0.0),
            4 => 0.0..20.0f64,
            1 => 0.0..1e12f64,
            1 => 0.0..f64::MAX,
            1 => Just(f64::MIN_POSITIVE),
        ]
    }

    fn weekday() -> impl Strategy<Value = Weekday> {
        (0u8..7).prop_map(|d| Weekday::try_from(d).unwrap_or(Weekday::Mon))
    }

    proptest! {
        #[test]
        fn outputs_are_finite_and_non_negative(
            h in prop::collection::vec(demand(), 0..400),
            first in weekday(),
            horizon in 0usize..60,
        ) {
            let f = forecast(&h, first, horizon);
            prop_assert_eq!(f.daily.len(), horizon);
            prop_assert!(f.daily.iter().all(|v| v.is_finite() && *v >= 0.0));
            prop_assert!(f.error_sd.is_finite() && f.error_sd >= 0.0);
            prop_assert_eq!(f.no_history, h.is_empty());
            for b in [seasonal_naive(&h, horizon), same_weekday_mean(&h, 4, horizon)] {
                prop_assert_eq!(b.len(), horizon);
                prop_assert!(b.iter().all(|v| v.is_finite() && *v >= 0.0));
            }
        }

        #[test]
        fn any_input_at_all_gives_finite_non_negative_outputs(
            h in prop::collection::vec(any::<f64>(), 0..120),
            horizon in 0usize..30,
        ) {
            let f = forecast(&h, Weekday::Fri, horizon);
            prop_assert!(f.daily.iter().all(|v| v.is_finite() && *v >= 0.0));
            prop_assert!(f.error_sd.is_finite() && f.error_sd >= 0.0);
        }
    }
}
