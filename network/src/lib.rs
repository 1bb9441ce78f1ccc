//! prozess-network (being built).
