//! Corpus and hand-written samples of `sw_vers`, with the asserted outcome of each.

use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![]
}
