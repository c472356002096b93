//! Tests of the simulated Mac (`keywarden-sim`), driving the built binary the way the daemon
//! does: through the tool symlinks of a temp `--root`, with a cleared environment and cwd `/`.
//!
//! They pin what the daemon will meet: corpus samples byte for byte, every argv of
//! ARCHITECTURE.md's command table, plists that parse, faults and replays that behave, a call
//! log that records argv and stdin, state that `set`, `event` and `changerecovery` change, and
//! time that `age` moves.
//! They do not test the daemon.

mod age;
mod corpus_states;
mod escrow_blob;
mod faults;
mod files_and_owners;
mod lifecycle;
mod tools;
