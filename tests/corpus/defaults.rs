//! Corpus and hand-written samples of `defaults`, with the asserted outcome of each.

use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![]
}
