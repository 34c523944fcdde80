//! Planning maths for HQ planners: demand forecasts, their accuracy,
//! replenishment policy and ABC/XYZ classes. Pure functions over values; the
//! hub reads the histories and writes the plans.

pub mod accuracy;
pub mod classify;
pub mod forecast;
pub mod policy;

pub use forecast::{Forecast, Method, forecast, same_weekday_mean, seasonal_naive};
