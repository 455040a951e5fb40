//! Integration tests: each starts the whole server on port 0 with its own
//! temporary data directory and talks to it over HTTP.

// A scenario reads top to bottom: the function-length limit is for Herald's own code.
#![allow(clippy::too_many_lines)]

mod access;
mod acks;
mod api_auth;
mod backup;
mod breakers;
mod catalog;
mod catalog_console;
mod catalog_export;
mod cli;
mod client;
mod console;
mod content;
mod crash;
mod delivery;
mod destinations;
mod dlq;
mod endpoints;
mod fairness;
mod harness;
mod health;
mod hostile;
mod inbox;
mod layering;
mod logs;
mod metrics;
mod nodes;
mod openapi;
mod openapi_rules;
mod ops;
mod ordering;
mod play;
mod policies;
mod receiver;
mod recovery;
mod retention;
mod routes;
mod security;
mod site;
mod stats;
mod tenancy;
mod transforms;
