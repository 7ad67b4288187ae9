//! Glue for R/output.R: output capture at R's console. While a capture runs, R's
//! console text goes through `console_hook`, which hands it to the core's capture
//! (`output::console_write`: it writes it to the console at once, in order with the
//! pipes, and queues it) or writes it the way R would have.
//!
//! Why R's console rather than only descriptors 1 and 2: in a terminal the descriptors
//! also carry the prompt, the echo of typed input and readline's control codes, which
//! are not the program's output; R's console sees only what the program prints, in
//! the order R prints it, tagged stdout or stderr; and front ends that do not use
//! descriptor 1 (RStudio) still pass R's text through the same callback.
//!
//! The callback, `R_Outputfile` and `R_Consolefile` are R's front-end interface
//! (Rinterface.h); R and the hook only run on R's main thread.

use std::os::raw::{c_char, c_int};
use std::sync::Mutex;

use extendr_api::prelude::*;

use crate::result::{error, to_r, Kind};
use cometr_core::output;

type WriteConsole = unsafe extern "C" fn(*const c_char, c_int);
type WriteConsoleEx = unsafe extern "C" fn(*const c_char, c_int, c_int);

extern "C" {
    static mut R_Outputfile: *mut libc::FILE;
    static mut R_Consolefile: *mut libc::FILE;
    static mut ptr_R_WriteConsole: Option<WriteConsole>;
    static mut ptr_R_WriteConsoleEx: Option<WriteConsoleEx>;
    static R_Interactive: c_int;
    static R_NoEcho: c_int;
}

/// R's console settings before the hook took over, put back when the capture ends.
struct Saved {
    out: *mut libc::FILE,
    err: *mut libc::FILE,
    /// Whether the hook took R's stderr (`R_Consolefile` set to NULL).
    took_err: bool,
    write: Option<WriteConsole>,
    write_ex: Option<WriteConsoleEx>,
}

// SAFETY: the pointers are only used on R's main thread; the mutex only orders access.
unsafe impl Send for Saved {}

static SAVED: Mutex<Option<Saved>> = Mutex::new(None);

fn saved() -> std::sync::MutexGuard<'static, Option<Saved>> {
    SAVED.lock().unwrap_or_else(|e| e.into_inner())
}

/// R's console callback while a capture runs. `otype` 0 is stdout, 1 stderr.
unsafe extern "C" fn console_hook(buf: *const c_char, len: c_int, otype: c_int) {
    let stderr = otype != 0;
    let text = if buf.is_null() || len <= 0 {
        &[][..]
    } else {
        std::slice::from_raw_parts(buf as *const u8, len as usize)
    };
    if output::console_write(text, stderr) {
        return;
    }
    let (file, write, write_ex) = match saved().as_ref() {
        Some(s) => (if stderr { s.err } else { s.out }, s.write, s.write_ex),
        None => (std::ptr::null_mut(), None, None),
    };
    if !file.is_null() {
        // What R does with a console file: write, then flush (its stdout connection
        // flushes after every write; stderr is unbuffered).
        libc::fwrite(buf as *const libc::c_void, 1, text.len(), file);
        libc::fflush(file);
    } else if let Some(f) = write {
        f(buf, len);
    } else if let Some(f) = write_ex {
        f(buf, len, otype);
    }
}

/// Route R's console through `console_hook` (once per capture), and say which
/// descriptors the core should redirect into pipes: descriptor 1 only in a script that
/// does not echo its input (elsewhere it carries prompts and echo); descriptor 2, for
/// `err`, only in a script whose stderr R writes to the descriptor; neither when it is
/// a terminal. Interactive sessions, front ends and terminals have their stderr taken
/// by the hook instead, so an error reaches the console before the next prompt.
fn take_console(err: bool) -> output::Pipes {
    let mut g = saved();
    // SAFETY: reading and setting R's front-end globals on R's main thread.
    unsafe {
        let interactive = R_Interactive != 0;
        let script = !interactive && R_NoEcho != 0;
        // A descriptor that is a terminal stays one: programs (cli, progress bars)
        // check it to choose colours and redraws.
        let tty_out = libc::isatty(1) == 1;
        let tty_err = libc::isatty(2) == 1;
        if g.is_none() {
            *g = Some(Saved {
                out: R_Outputfile,
                err: R_Consolefile,
                took_err: false,
                write: ptr_R_WriteConsole,
                write_ex: ptr_R_WriteConsoleEx,
            });
            R_Outputfile = std::ptr::null_mut();
            ptr_R_WriteConsole = None;
            ptr_R_WriteConsoleEx = Some(console_hook);
        }
        let s = g.as_mut().expect("saved just above");
        // An experiment that joins a running capture without a stderr pipe has R's
        // stderr taken by the hook.
        let pipe_err = err
            && !interactive
            && !tty_err
            && !s.err.is_null()
            && (!output::active() || output::redirected(2));
        if err && !pipe_err && !s.took_err {
            R_Consolefile = std::ptr::null_mut();
            s.took_err = true;
        }
        output::Pipes {
            stdout: script && !tty_out && !s.out.is_null(),
            stderr: pipe_err,
        }
    }
}

/// Give R its console back once no capture runs. Settings another front end changed
/// since are left as they are.
pub(crate) fn release_console() {
    if output::active() {
        return;
    }
    let Some(s) = saved().take() else {
        return;
    };
    // SAFETY: restoring R's front-end globals on R's main thread.
    unsafe {
        let ours = ptr_R_WriteConsoleEx
            .is_some_and(|f| std::ptr::fn_addr_eq(f, console_hook as WriteConsoleEx));
        if ours {
            ptr_R_WriteConsoleEx = s.write_ex;
            ptr_R_WriteConsole = s.write;
        }
        if R_Outputfile.is_null() {
            R_Outputfile = s.out;
        }
        if s.took_err && R_Consolefile.is_null() {
            R_Consolefile = s.err;
        }
    }
}

/// Capture stdout (`out`) and/or stderr (`err`) into the experiment's output.
/// @noRd
#[extendr]
fn rust_experiment_capture(id: i32, out: bool, err: bool) -> Robj {
    let pipes = take_console(err);
    let started = output::start(id, out, err, pipes);
    if started.is_err() {
        release_console();
    }
    to_r(started.map(|_| ()).map_err(|m| {
        error(
            Kind::Capture,
            format!("Output capture is not available: {m}"),
        )
    }))
}

/// Queue text R printed where the console does not see it (knitr's chunk output) to
/// the experiments capturing that stream.
/// @noRd
#[extendr]
fn rust_output_record(text: &str, stderr: bool) {
    output::record(text.as_bytes(), stderr);
}

extendr_module! {
    mod output;
    fn rust_experiment_capture;
    fn rust_output_record;
}
