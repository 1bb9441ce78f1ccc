//! Test harness: starts a real broker (Tansu) or uses PROZESS_BOOTSTRAP.
