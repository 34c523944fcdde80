//! jxc's domain: identifiers, quantities and money, movements, costing and the
//! parsing of user input into them. Pure: no IO, no clock, no threads — callers
//! hand in everything (including "now") and get values back.

pub mod amount;
pub mod costing;
pub mod docs;
pub mod error;
pub mod ids;
pub mod movement;
pub mod plan;
pub mod product;
pub mod protocol;
pub mod rng;
pub mod row;
pub mod share;
pub mod suggest;
pub mod sync;
pub mod text;
pub mod time;

pub use amount::{Money, Quantity};
pub use error::DomainError;
pub use ids::{GlobalLocation, LocationId, Lot, SiteId, SiteKind, Sku};
pub use movement::{Movement, MovementDraft, MovementKind};
pub use product::Product;
