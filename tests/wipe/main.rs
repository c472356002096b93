//! Secrets are wiped from memory after use (issue 6): a global allocator that inspects every
//! block as it is freed proves that no freed memory still holds the recovery key — after parsing
//! it, building the stdin plist, and a round trip through a child's stdin and secret output.
//! (A key copied into an ordinary `Vec` or `String` and dropped would be found here.)

// An allocator is `unsafe` by its nature; the crate denies `unsafe_code` everywhere else.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const KEY: &[u8] = b"QWER-TYUI-OPAS-DFGH-JKLZ-XCVB";

static WATCHING: AtomicBool = AtomicBool::new(false);
static LEAKS: AtomicUsize = AtomicUsize::new(0);

struct Inspecting;

unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHING.load(Ordering::Relaxed) && layout.size() >= KEY.len() {
            // SAFETY: the block is still ours until System.dealloc below.
            let block = std::slice::from_raw_parts(ptr, layout.size());
            if block.windows(KEY.len()).any(|w| w == KEY) {
                LEAKS.fetch_add(1, Ordering::Relaxed);
            }
        }
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: Inspecting = Inspecting;

/// One test (the allocator's watch is process-wide): first the control, then the real check.
#[test]
fn no_freed_memory_holds_the_key_after_parsing_plisting_and_a_child_round_trip() {
    use keywarden::runner::{Call, ProcessRunner, Runner};
    use keywarden::secret::{RecoveryKey, Secret};

    // The control: a key left in an ordinary Vec is found, so the check below can fail.
    WATCHING.store(true, Ordering::Relaxed);
    let copy: Vec<u8> = KEY.iter().copied().chain(std::iter::once(b'!')).collect();
    drop(std::hint::black_box(copy));
    WATCHING.store(false, Ordering::Relaxed);
    assert_eq!(
        LEAKS.swap(0, Ordering::Relaxed),
        1,
        "the inspector missed an unwiped copy"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runner = ProcessRunner::new(
        keywarden::paths::Root::default(),
        std::time::Duration::from_secs(30),
    );
    WATCHING.store(true, Ordering::Relaxed);
    {
        // Typed in lower case, without dashes: normalised into wiped memory.
        let typed = Secret::new(b"qwertyuiopasdfghjklzxcvb\n".to_vec());
        let key = RecoveryKey::parse(typed).unwrap();
        assert_eq!(key.secret().expose_secret(), KEY);
        let plist = key.secret().password_input_plist();
        // The plist goes to a child's stdin; the child prints it back as secret output.
        let out = rt
            .block_on(runner.run_secret(&Call::program("/bin/cat", &[] as &[&str]), &plist))
            .unwrap();
        assert!(out
            .stdout
            .expose_secret()
            .windows(KEY.len())
            .any(|w| w == KEY));
        drop(out);
        drop(plist);
        drop(key);
    }
    WATCHING.store(false, Ordering::Relaxed);
    assert_eq!(
        LEAKS.load(Ordering::Relaxed),
        0,
        "freed memory still held the key"
    );
}
