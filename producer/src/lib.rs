//! prozess-producer (being built).
