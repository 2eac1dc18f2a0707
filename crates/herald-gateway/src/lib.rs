//! The gateway runner.
