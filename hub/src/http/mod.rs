//! The hub's HTTP layer: the axum router and its handlers (`api`), the
//! replicated documents' routes (`replicated`), the directory agents fetch
//! (`directory`), the OpenAPI description (`openapi`), and the response
//! types (`views`), which are the layer's own: the store's rows never reach
//! a client, so a schema change and an API change do not freeze each other.

pub mod api;
pub mod directory;
pub mod openapi;
pub mod replicated;
pub mod views;
