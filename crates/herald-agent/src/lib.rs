//! providers
pub mod provider;
