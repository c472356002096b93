//! Decide: a pure function of (now, Snapshot, Config, State, previous status) that returns the
//! next State and the status to publish: what the observations mean for this Mac.
//!
//! In order: `lifecycle::note` records the observation in the state; `facts` works out what it
//! means, each fact once; `lifecycle::step` finds the reasons to rotate and steps the rotation
//! state machine; `sections` builds the status's sections; `problems` lists what is wrong. The
//! effects to carry out wait in the state's outbox (saved before `act` runs them), each tagged
//! with the boot session it was decided in, and `after_acting` / `after_command` fold what they
//! came to back in. Before all of it, at the start of every check, `boot::guard_boot` decides
//! what the boot guard does (issue 14, item 2). Nothing here runs a tool or touches a file.

mod boot;
mod escrow;
mod facts;
mod lifecycle;
mod problems;
mod sections;
#[cfg(test)]
mod tests;

use jiff::Timestamp;

use crate::config::Config;
use crate::observe::Snapshot;
use crate::rotation::{self, Done};
use crate::state::{Effect, State};
use crate::status::{self, Daemon, Status};

pub(crate) use boot::{guard_boot, is_new_boot};
pub(crate) use facts::Facts;
pub(crate) use sections::rotation_section;

/// Everything a decision needs.
pub(crate) struct Inputs<'a> {
    pub now: Timestamp,
    pub snapshot: &'a Snapshot,
    pub config: &'a Config,
    pub config_warnings: &'a [String],
    pub state: &'a State,
    /// Why the state file could not be used this time, if it could not.
    pub state_problem: Option<&'a str>,
    pub previous: Option<&'a Status>,
    pub version: &'a str,
}

/// The outcome of one decision.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    /// The next state; its outbox holds what `act` must do once it is saved.
    pub state: State,
    pub status: Status,
    /// A probe failed (exit code 1 of `keywarden check`).
    pub probe_failed: bool,
}

pub(crate) fn decide(i: &Inputs<'_>) -> Decision {
    let snap = i.snapshot;
    let now = i.now;
    let mut state = i.state.clone();
    let mut errors: Vec<String> = snap.errors().iter().map(|e| e.to_string()).collect();
    for s in &snap.skipped_users {
        errors.push(format!(
            "dscl -readall /Users: record {} left out: {}",
            s.name.as_deref().unwrap_or("(without a name)"),
            s.reason
        ));
    }
    let unreadable_profiles = profile_notes(snap, &mut errors);

    let noted = lifecycle::note(&mut state, snap, i.config, now, &mut errors);
    let facts = Facts::derive(snap, &state, i.config, now);
    let life = lifecycle::step(&facts, &mut state, i.config, noted);

    let prev = i.previous;
    let host = sections::carry(sections::fresh_host(snap), prev.map(|p| &p.host), now);
    let file_vault = sections::carry(
        sections::fresh_file_vault(snap),
        prev.map(|p| &p.file_vault),
        now,
    );
    let escrow = sections::carry(
        sections::fresh_escrow(snap, &facts),
        prev.map(|p| &p.escrow),
        now,
    );
    let mut recovery_key = sections::carry(
        sections::fresh_recovery_key(snap, &facts, &state),
        prev.map(|p| &p.recovery_key),
        now,
    );
    if recovery_key.observed_at == Some(now) {
        recovery_key.state = sections::key_state(recovery_key.present, &facts, &escrow);
    }
    let secure_token = sections::carry(
        sections::fresh_secure_token(snap, i.config, &facts, &mut errors),
        prev.map(|p| &p.secure_token),
        now,
    );
    let bootstrap_token = sections::carry(
        sections::fresh_bootstrap_token(snap),
        prev.map(|p| &p.bootstrap_token),
        now,
    );
    let mut rotation = rotation_section(&state, now);
    rotation.method_note = life.method_note.clone();
    if let Some(p) = i.state_problem {
        errors.push(p.to_owned());
    }

    let probe_failed = !snap.errors().is_empty();
    let listed = problems::problems(&problems::Seen {
        now,
        config: i.config,
        state: &state,
        facts: &facts,
        life: &life,
        file_vault: &file_vault,
        recovery_key: &recovery_key,
        escrow: &escrow,
        secure_token: &secure_token,
        bootstrap_token: &bootstrap_token,
        apple_silicon: host.apple_silicon,
        unreadable_profiles,
        probe_failed,
        state_unreadable: i.state_problem.is_some(),
    });
    if life.foreign_flag_during_reset {
        errors.push(format!(
            "GenerateNewKey is set in {} by another tool while this boot's password reset is pending: a rotation at that login breaks the reset (remove it: sudo defaults delete {} GenerateNewKey)",
            crate::paths::ESCROW_BUDDY_DOMAIN,
            crate::paths::ESCROW_BUDDY_DOMAIN
        ));
    }
    cap_errors(&mut errors);

    let daemon = Daemon {
        last_check_at: Some(now),
        errors,
        config_warnings: i.config_warnings.to_vec(),
        observed_at: Some(now),
        ..Default::default()
    };
    let status = Status {
        schema_version: status::SCHEMA_VERSION,
        generated_at: now,
        version: i.version.to_owned(),
        healthy: listed.problems.is_empty(),
        problems: listed.problems,
        warnings: listed.warnings,
        host,
        file_vault,
        recovery_key,
        escrow,
        rotation,
        secure_token,
        bootstrap_token,
        daemon,
    };
    // Tagged with this boot: a later boot never replays them (`boot`).
    state.outbox.enqueue(
        life.effects,
        snap.boot_session.as_ref().ok().map(String::as_str),
    );
    // A flag about to be set is Keywarden's from now on (the uninstaller and the reset guard rely
    // on `FlagSetAt`): recorded with the outbox, before the write, so a kill in between cannot
    // leave Keywarden's flag looking like someone else's.
    if state
        .outbox
        .pending
        .iter()
        .any(|p| p.effect == Effect::SetFlag)
    {
        state.flag.set_at.get_or_insert(now);
    }
    Decision {
        state,
        status,
        probe_failed,
    }
}

/// At most this many lines in `Daemon.Errors`; the rest are counted. Each source already bounds
/// its own (excerpts are cut, profiles and user records named up to ten); this holds the whole
/// under what `keywarden ea` reads (`status::MAX_STATUS_BYTES`) whatever a Mac throws at it.
const MAX_ERRORS: usize = 50;

fn cap_errors(errors: &mut Vec<String>) {
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - (MAX_ERRORS - 1);
        errors.truncate(MAX_ERRORS - 1);
        errors.push(format!("{more} more errors left out (see the log)"));
    }
}

/// How many odd profiles are named in `Daemon.Errors`; the rest are counted (a Mac with
/// thousands of them must not grow the status past what inventory reads).
const PROFILES_NAMED: usize = 10;

/// Name in `errors` the profiles `profiles` showed that could not be read, or only in part;
/// whether there were any.
fn profile_notes(snap: &Snapshot, errors: &mut Vec<String>) -> bool {
    let Ok(profiles) = &snap.profiles else {
        return false;
    };
    let mut lines: Vec<String> = profiles
        .unreadable
        .iter()
        .map(|p| {
            format!(
                "profile {} skipped (profiles -C -o stdout-xml): {}; {}",
                p.name,
                p.problem,
                match p.carries_escrow {
                    Some(false) => "it carries no escrow payload, so the escrow check stands",
                    Some(true) | None => "it may carry the escrow payload",
                }
            )
        })
        .collect();
    for p in profiles.installed.iter().filter(|p| !p.notes.is_empty()) {
        lines.push(format!(
            "profile {} read in part (profiles -C -o stdout-xml): {} (left out)",
            crate::text::printable(&p.identifier, 80),
            p.notes.join("; ")
        ));
    }
    let any = !lines.is_empty();
    let more = lines.len().saturating_sub(PROFILES_NAMED);
    lines.truncate(PROFILES_NAMED);
    errors.extend(lines);
    if more > 0 {
        errors.push(format!(
            "profiles -C -o stdout-xml: {more} more profiles could not be read in full"
        ));
    }
    any
}

/// The facts of one observation, for a command that uses a key outside a check
/// (`rotate --current-key`): the state is noted on a copy and not kept, so the check that follows
/// records the observation (and audits what it finds) itself.
pub(crate) fn facts_of(state: &State, snap: &Snapshot, config: &Config, now: Timestamp) -> Facts {
    let mut scratch = state.clone();
    let _ = lifecycle::note(&mut scratch, snap, config, now, &mut Vec::new());
    Facts::derive(snap, &scratch, config, now)
}

/// Fold what acting came to into the state: the outbox is done (but for `RotationCommand` when
/// `command_waits`: it stays for the next check that runs it), Keywarden's flag is recorded as
/// set or no longer Keywarden's, and a flag that could not be set fails the attempt.
pub(crate) fn after_acting(
    state: &State,
    now: Timestamp,
    done: &[Done],
    command_waits: bool,
) -> State {
    fold(state, now, done, |p| {
        !(command_waits && p.effect == Effect::RunCommand)
    })
}

/// Fold what the boot guard's acting came to (`boot::guard_boot`): the entries `acted` on leave
/// the outbox (the rest, this boot's, wait for the replay that follows), and the flag is recorded
/// as for any other check.
pub(crate) fn after_guard(state: &State, now: Timestamp, acted: &[u64], done: &[Done]) -> State {
    fold(state, now, done, |p| acted.contains(&p.id))
}

/// The outbox without the entries `done_with` says are done, and what became of the flag.
fn fold(
    state: &State,
    now: Timestamp,
    done: &[Done],
    done_with: impl Fn(&crate::state::Pending) -> bool,
) -> State {
    let mut next = state.clone();
    next.outbox.pending.retain(|p| !done_with(p));
    for d in done {
        match d {
            Done::FlagSet => next.flag.set_at = Some(now),
            Done::FlagNotSet(why) => {
                // Not set after all: not Keywarden's.
                next.flag.set_at = None;
                next.rotation = rotation::apply_effect_failure(&next.rotation, now, why.clone());
            }
            Done::FlagWithdrawn => next.flag.set_at = None,
            // Kept as Keywarden's: the next check tries again.
            Done::FlagNotWithdrawn(_) => {}
            Done::CommandDue => {}
        }
    }
    next
}

/// Fold what `RotationCommand` came to into the state (`failure`: why it failed, `None` when it
/// exited 0).
pub(crate) fn after_command(state: &State, now: Timestamp, failure: Option<String>) -> State {
    let mut next = state.clone();
    next.rotation = rotation::apply_command_outcome(&next.rotation, now, failure);
    next
}
