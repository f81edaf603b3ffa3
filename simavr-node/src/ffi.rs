//! The C side (`shim.c` over libsimavr): the one place with `unsafe`.
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_double, c_int, c_void};
use std::ptr::NonNull;

#[repr(C)]
struct GtNode {
    _private: [u8; 0],
}

type InputFn = extern "C" fn(*mut c_void, c_int, c_double) -> c_double;

unsafe extern "C" {
    fn gt_node_new(elf: *const c_char, address: u8, ctx: *mut c_void, f: InputFn) -> *mut GtNode;
    fn gt_node_free(n: *mut GtNode);
    fn gt_node_run_until(n: *mut GtNode, cycle: u64) -> c_int;
    fn gt_node_cycle(n: *mut GtNode) -> u64;
    fn gt_node_reset(n: *mut GtNode);
    fn gt_node_isr_stats(n: *mut GtNode, cycles: *mut u64, count: *mut u64, max: *mut u64);
    fn gt_twi_start(n: *mut GtNode, address: u8, read: c_int) -> c_int;
    fn gt_twi_write(n: *mut GtNode, byte: u8) -> c_int;
    fn gt_twi_read(n: *mut GtNode, more: c_int) -> c_int;
    fn gt_twi_stop(n: *mut GtNode) -> c_int;
}

/// The analog world as the C side asks for it: input (0 the voltage, 1.. the currents) and
/// time in seconds to the pin's millivolts.
pub type PinInput = Box<dyn FnMut(usize, f64) -> f64 + Send>;

extern "C" fn call_input(ctx: *mut c_void, input: c_int, t: c_double) -> c_double {
    // SAFETY: ctx is the Box<PinInput> that `Avr` owns and keeps alive while the node is.
    let f = unsafe { &mut *(ctx as *mut PinInput) };
    let input = usize::try_from(input).unwrap_or(0);
    // A panic must not unwind into C: the pin reads mid-scale instead.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(input, t))).unwrap_or(2500.0)
}

/// One simulated ATmega328P running the node firmware.
pub struct Avr {
    node: NonNull<GtNode>,
    // Boxed twice so that the pointer handed to C stays put.
    _input: Box<PinInput>,
}

// SAFETY: the simulator is plain memory owned by this value; it is used from one thread at a
// time (the emulated bus holds it behind its lock).
unsafe impl Send for Avr {}

impl Avr {
    pub fn new(elf: &std::path::Path, address: u8, input: PinInput) -> Result<Avr, String> {
        let path = CString::new(elf.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{}: a NUL in the path", elf.display()))?;
        let mut input = Box::new(input);
        let ctx = (&mut *input) as *mut PinInput as *mut c_void;
        // SAFETY: path is a valid C string; ctx outlives the node (both owned by `Avr`).
        let raw = unsafe { gt_node_new(path.as_ptr(), address, ctx, call_input) };
        let node = NonNull::new(raw)
            .ok_or_else(|| format!("{}: simavr could not load it", elf.display()))?;
        Ok(Avr {
            node,
            _input: input,
        })
    }

    fn p(&self) -> *mut GtNode {
        self.node.as_ptr()
    }

    /// Run until the CPU's cycle counter reaches `cycle`; false if the CPU stopped.
    pub fn run_until(&mut self, cycle: u64) -> bool {
        // SAFETY: the node is live for as long as self.
        unsafe { gt_node_run_until(self.p(), cycle) == 0 }
    }

    pub fn cycle(&self) -> u64 {
        // SAFETY: as above.
        unsafe { gt_node_cycle(self.p()) }
    }

    pub fn watchdog_reset(&mut self) {
        // SAFETY: as above.
        unsafe { gt_node_reset(self.p()) }
    }

    /// The sampling interrupt's total cycles, count and longest run.
    pub fn isr_stats(&self) -> (u64, u64, u64) {
        let (mut c, mut n, mut m) = (0, 0, 0);
        // SAFETY: as above; the out-pointers are to locals.
        unsafe { gt_node_isr_stats(self.p(), &mut c, &mut n, &mut m) };
        (c, n, m)
    }

    /// START and the address: Some(acknowledged), None if the clock was held too long.
    pub fn start(&mut self, address: u8, read: bool) -> Option<bool> {
        // SAFETY: as above.
        match unsafe { gt_twi_start(self.p(), address, c_int::from(read)) } {
            -1 => None,
            r => Some(r == 1),
        }
    }

    pub fn write(&mut self, byte: u8) -> Option<bool> {
        // SAFETY: as above.
        match unsafe { gt_twi_write(self.p(), byte) } {
            -1 => None,
            r => Some(r == 1),
        }
    }

    pub fn read(&mut self, more: bool) -> Option<u8> {
        // SAFETY: as above.
        u8::try_from(unsafe { gt_twi_read(self.p(), c_int::from(more)) }).ok()
    }

    pub fn stop(&mut self) {
        // SAFETY: as above.
        unsafe { gt_twi_stop(self.p()) };
    }
}

impl Drop for Avr {
    fn drop(&mut self) {
        // SAFETY: the node was made by gt_node_new and is freed once.
        unsafe { gt_node_free(self.p()) }
    }
}
