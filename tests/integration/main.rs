//! Stroom's integration tests, one binary (linked once): the `stroom` programs, the
//! library, the simulators, and the servers we did not write (Samba AD, Prism on the
//! official Nmbrs OpenAPI file). Run one area with a filter, say
//! `cargo test --test integration ad::`.

mod common;

mod ad;
mod adoption;
mod apply;
mod book;
mod cli;
mod diagnostics;
mod editors;
mod fuzz;
mod handover;
mod hardening;
mod html;
mod lsp;
mod microsoft;
mod neovim;
mod nmbrs;
mod normalize;
mod plans;
mod properties;
mod schemas;
mod scim;
mod semantics;
mod state_store;
mod sync;
