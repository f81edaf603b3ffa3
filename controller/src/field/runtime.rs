//! What the `field` crate's transports run on here: a runtime of their own, set up on a thread
//! of its own, for the live loops and the emulated runs alike.

use tokio::runtime::{Builder, Runtime};

/// With `worker`, a runtime whose one worker (so named) runs the transports while the caller's
/// loop sleeps (on the wall clock); without, one that runs them only while the caller blocks on
/// it (virtual time, where the run waits for what was due).
pub(crate) fn runtime(worker: Option<&str>) -> Result<Runtime, String> {
    let mut b = match worker {
        Some(name) => {
            let mut b = Builder::new_multi_thread();
            b.worker_threads(1).thread_name(name);
            b
        }
        None => Builder::new_current_thread(),
    };
    b.enable_all()
        .build()
        .map_err(|e| format!("the field's runtime: {e}"))
}

/// `set_up` on a thread of its own: the caller may be inside a runtime (the live service's
/// tests are), where another could neither block nor be dropped.
pub(crate) fn apart<T: Send>(
    set_up: impl FnOnce() -> Result<T, String> + Send,
) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(set_up)
            .join()
            .unwrap_or_else(|_| Err("the field's set-up panicked".into()))
    })
}
