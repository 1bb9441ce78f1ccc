//! prozess-consumer (being built).
