//! Test-only servers (being written).
