//! The simulated Mac (placeholder until the simulator lands).
fn main() {}
