//! Output capture for `log_output` / `log_error`, with no extra process and without
//! changing what the console shows, nor its order.
//!
//! Two sources feed the same line cutter:
//! - R's own console text (cat, print, message, warnings, errors), handed over by the
//!   glue's console hook through [`console_write`], or by R-level hooks (knitr) through
//!   [`record`]. The hook writes R's text itself, at once, so it reaches the console or
//!   file exactly when and where it would without capture.
//! - Descriptors 1 and/or 2 redirected into pipes ([`Pipes`]), for what bypasses R's
//!   console (C code, child processes) and, in scripts, R's stderr. One reader thread
//!   copies every byte back to the original descriptors at once and cuts it into lines.
//!
//! Order: bytes in a pipe reach the console a little later than they were written. So
//! before the hook writes anything, it pushes the C library's buffered stdout into its
//! pipe and waits until the reader has relayed both pipes ([`console_write`]); what R
//! writes to a pipe (its stderr) is written after R's earlier text went out through the
//! hook. The console, or a file holding both streams (`> run.log 2>&1`), receives
//! everything in the order it was written, as without capture. At the process's exit
//! the pipes are emptied to the console too, so an error's last lines are not lost.
//!
//! Lines are queued to the experiments that capture the stream (stdout, or stderr when
//! they log errors), without terminal control sequences; a line split across both
//! sources keeps its order, as both feed the same per-stream buffer.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::outbox;

/// Which descriptors to redirect into pipes when a capture starts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pipes {
    /// Descriptor 1: for output that does not go through R's console (C code, child
    /// processes). Only where descriptor 1 is R's console and nothing else writes
    /// there (a script: no prompt, no echo of the input).
    pub stdout: bool,
    /// Descriptor 2: R's stderr in a script (R writes it straight to the descriptor),
    /// and what C code and child processes write there.
    pub stderr: bool,
}

/// An experiment that receives captured lines, and which streams it wants.
#[derive(Clone, Copy)]
struct Target {
    id: i32,
    out: bool,
    err: bool,
}

struct Active {
    /// (captured fd, saved copy of the original, pipe read end) per redirected stream.
    fds: Vec<(RawFd, RawFd, RawFd)>,
    reader: Option<JoinHandle<()>>,
}

static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);
static TARGETS: Mutex<Vec<Target>> = Mutex::new(Vec::new());
/// The unfinished last line of stdout and of stderr, shared by both sources.
static PARTIAL: Mutex<[Vec<u8>; 2]> = Mutex::new([Vec::new(), Vec::new()]);
/// True while the reader handles a chunk it has taken out of a pipe.
static BUSY: AtomicBool = AtomicBool::new(false);
static AT_EXIT: Once = Once::new();
/// The process that started the capture. A forked child (parallel::mclapply) inherits
/// the hook but not the reader thread, and possibly locks held at the fork: it writes
/// R's way instead, into the pipe, where the parent's reader captures it.
static OWNER: AtomicU32 = AtomicU32::new(0);

extern "C" {
    // The C library's stdout stream, flushed so buffered text reaches the pipe.
    static mut stdout: *mut libc::FILE;
}

fn flush_c_stdout() {
    // SAFETY: fflush on the process's stdout FILE*, which the C library owns.
    unsafe {
        libc::fflush(stdout);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a capture runs.
pub fn active() -> bool {
    !lock(&TARGETS).is_empty()
}

/// Whether the running capture has descriptor `fd` redirected into a pipe.
pub fn redirected(fd: RawFd) -> bool {
    lock(&ACTIVE)
        .as_ref()
        .is_some_and(|a| a.fds.iter().any(|&(f, _, _)| f == fd))
}

/// Wait (up to `limit`) until the reader has copied every byte in the pipes to the
/// console and queued it.
fn drain(reads: &[RawFd], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let pending: i64 = reads
            .iter()
            .map(|&fd| {
                let mut n: libc::c_int = 0;
                // SAFETY: FIONREAD on a pipe we own writes one int.
                unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
                n as i64
            })
            .sum();
        if pending == 0 && !BUSY.load(Ordering::Acquire) {
            return;
        }
        if Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn pipe_reads(a: &Active) -> Vec<RawFd> {
    a.fds.iter().map(|&(_, _, r)| r).collect()
}

/// Make sure every byte printed so far has been queued: push what the C library
/// still buffers into the pipe, then wait (up to 2 s) until the reader has emptied the
/// pipes. Reads call this, so that `get_output()` sees what was printed before it.
pub fn flush() {
    flush_c_stdout();
    let reads = match lock(&ACTIVE).as_ref() {
        Some(a) => pipe_reads(a),
        None => return,
    };
    drain(&reads, Duration::from_secs(2));
}

/// R's console text (`stderr`: R's error stream), from the glue's console hook. Lets
/// the pipes catch up first, so the console keeps the order of what was written;
/// then, when the stream's descriptor is redirected, writes the text to the original
/// and returns `true`; `false` means the caller writes it as R would. Either way the
/// text is queued to the experiments that capture its stream.
pub fn console_write(text: &[u8], stderr: bool) -> bool {
    if std::process::id() != OWNER.load(Ordering::Acquire) {
        return false;
    }
    let g = lock(&ACTIVE);
    let Some(a) = g.as_ref() else {
        return false;
    };
    flush_c_stdout();
    drain(&pipe_reads(a), Duration::from_secs(2));
    let fd = if stderr { 2 } else { 1 };
    let saved = a.fds.iter().find(|&&(f, _, _)| f == fd).map(|&(_, s, _)| s);
    if let Some(saved) = saved {
        write_all(saved, text);
    }
    drop(g);
    record(text, stderr);
    saved.is_some()
}

/// Queue text that R printed where no descriptor sees it (knitr's chunk output) to
/// the experiments that capture its stream; complete lines go at once, the rest when
/// the line ends or the capture stops.
pub fn record(text: &[u8], stderr: bool) {
    let mut partial = lock(&PARTIAL);
    let acc = &mut partial[stderr as usize];
    for &b in text {
        if b == b'\n' {
            deliver(acc, stderr, true);
            acc.clear();
        } else {
            acc.push(b);
        }
    }
}

fn redirect(fd: RawFd) -> Result<(RawFd, RawFd), String> {
    let mut p = [0 as RawFd; 2];
    // SAFETY: plain POSIX calls on descriptors this function owns or that the process has.
    unsafe {
        if libc::pipe(p.as_mut_ptr()) != 0 {
            return Err("pipe() failed".into());
        }
        let saved = libc::dup(fd);
        if saved < 0 {
            libc::close(p[0]);
            libc::close(p[1]);
            return Err("dup() failed".into());
        }
        if libc::dup2(p[1], fd) < 0 {
            libc::close(p[0]);
            libc::close(p[1]);
            libc::close(saved);
            return Err("dup2() failed".into());
        }
        libc::close(p[1]);
        Ok((saved, p[0]))
    }
}

fn write_all(fd: RawFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: writing a valid buffer to a descriptor we hold.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n <= 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        buf = &buf[n as usize..];
    }
}

/// `line` without terminal control sequences (cursor moves and visibility, colours,
/// titles, readline's bracketed-paste switches): they steer a terminal and are not
/// text. Handles CSI (`ESC [` ... final byte), OSC (`ESC ]` ... BEL or `ESC \`) and
/// two-byte escapes (`ESC` + intermediates + final byte).
fn strip_escapes(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !line.contains(&0x1b) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] != 0x1b {
            out.push(line[i]);
            i += 1;
            continue;
        }
        i += 1;
        match line.get(i) {
            Some(b'[') => {
                i += 1;
                while i < line.len() && !(0x40..=0x7e).contains(&line[i]) {
                    i += 1;
                }
                i += 1;
            }
            Some(b']') => {
                i += 1;
                while i < line.len() {
                    if line[i] == 0x07 {
                        i += 1;
                        break;
                    }
                    if line[i] == 0x1b && line.get(i + 1) == Some(&b'\\') {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
            }
            _ => {
                while i < line.len() && (0x20..=0x2f).contains(&line[i]) {
                    i += 1;
                }
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Queue one line. Complete lines keep their newline, as Comet joins the `output` of
/// consecutive entries verbatim; the last, unterminated line has none. A line that
/// held only control sequences is not queued.
fn deliver(line: &[u8], stderr: bool, complete: bool) {
    let stripped = strip_escapes(line);
    if stripped.is_empty() && (!line.is_empty() || !complete) {
        return;
    }
    let text = String::from_utf8_lossy(&stripped);
    let mut text = text.strip_suffix('\r').unwrap_or(&text).to_string();
    if complete {
        text.push('\n');
    }
    let targets = lock(&TARGETS).clone();
    for t in targets {
        if (stderr && t.err) || (!stderr && t.out) {
            if let Some(s) = outbox::get(t.id) {
                s.push_output(&text, stderr);
            }
        }
    }
}

/// Start capturing stdout (`out`) and/or stderr (`err`) into the outbox `id`,
/// redirecting the descriptors `pipes` names when no capture runs yet. A second
/// experiment joins the running capture (with the descriptors it has). Returns whether
/// this call started the capture.
pub fn start(id: i32, out: bool, err: bool, pipes: Pipes) -> Result<bool, String> {
    let mut g = lock(&ACTIVE);
    let target = Target { id, out, err };
    if g.is_some() {
        let mut t = lock(&TARGETS);
        t.retain(|x| x.id != id);
        t.push(target);
        return Ok(false);
    }
    flush_c_stdout();
    let mut fds = Vec::new();
    for (fd, wanted) in [(1, pipes.stdout), (2, pipes.stderr)] {
        if !wanted {
            continue;
        }
        match redirect(fd) {
            Ok((saved, read)) => fds.push((fd, saved, read)),
            Err(e) => {
                restore(&fds);
                return Err(e);
            }
        }
    }
    let plan: Vec<(RawFd, RawFd, bool)> = fds
        .iter()
        .map(|&(fd, saved, read)| (read, saved, fd == 2))
        .collect();
    let reader = if plan.is_empty() {
        None
    } else {
        let spawned = std::thread::Builder::new()
            .name("cometr-capture".into())
            .spawn(move || {
                crate::http::block_sigpipe();
                read_loop(plan)
            });
        match spawned {
            Ok(h) => Some(h),
            Err(e) => {
                restore(&fds);
                return Err(e.to_string());
            }
        }
    };
    *lock(&TARGETS) = vec![target];
    *g = Some(Active { fds, reader });
    OWNER.store(std::process::id(), Ordering::Release);
    // A script that ends (even by an error) must still show what is in the pipes.
    AT_EXIT.call_once(|| {
        // SAFETY: registering a plain function with the C library.
        unsafe {
            libc::atexit(stop_at_exit);
        }
    });
    Ok(true)
}

fn read_loop(plan: Vec<(RawFd, RawFd, bool)>) {
    let mut open: Vec<bool> = vec![true; plan.len()];
    let mut buf = vec![0u8; 64 * 1024];
    while open.iter().any(|&o| o) {
        let mut pfds: Vec<libc::pollfd> = plan
            .iter()
            .zip(&open)
            .map(|(&(read, _, _), &o)| libc::pollfd {
                fd: if o { read } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: polling descriptors owned by this thread.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
        if rc < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        for (i, p) in pfds.iter().enumerate() {
            if !open[i] || p.revents == 0 {
                continue;
            }
            let (read, saved, is_err) = plan[i];
            BUSY.store(true, Ordering::Release);
            // SAFETY: reading into a buffer we own.
            let n = unsafe { libc::read(read, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 {
                let e = std::io::Error::last_os_error();
                BUSY.store(false, Ordering::Release);
                if n < 0 && e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                open[i] = false;
                continue;
            }
            let chunk = &buf[..n as usize];
            write_all(saved, chunk);
            record(chunk, is_err);
            BUSY.store(false, Ordering::Release);
        }
    }
}

fn restore(fds: &[(RawFd, RawFd, RawFd)]) {
    for &(fd, saved, read) in fds {
        // SAFETY: putting back the descriptors saved by `redirect`.
        unsafe {
            libc::dup2(saved, fd);
            libc::close(saved);
            libc::close(read);
        }
    }
}

/// Give the console its descriptors back, let the reader drain what is left, and
/// queue the last unfinished lines.
fn end_capture(a: &mut Active) {
    flush_c_stdout();
    // Putting the original descriptors back closes the pipes' last write ends: the
    // reader drains what is left (still copying it to the saved originals, so those
    // stay open until it is done), sees end of file and finishes.
    for &(fd, saved, _) in &a.fds {
        // SAFETY: restoring the descriptor saved by `redirect`.
        unsafe {
            libc::dup2(saved, fd);
        }
    }
    if let Some(r) = a.reader.take() {
        let _ = r.join();
    }
    for &(_, saved, read) in &a.fds {
        // SAFETY: closing the saved copies and read ends, which nothing uses now.
        unsafe {
            libc::close(saved);
            libc::close(read);
        }
    }
    // The last line without a newline still counts.
    let mut partial = lock(&PARTIAL);
    for (i, acc) in partial.iter_mut().enumerate() {
        if !acc.is_empty() {
            deliver(acc, i == 1, false);
            acc.clear();
        }
    }
}

extern "C" fn stop_at_exit() {
    if let Ok(mut g) = ACTIVE.try_lock() {
        if let Some(mut a) = g.take() {
            end_capture(&mut a);
        }
    }
}

/// Stop feeding outbox `id`; when no experiment is left, give the console its
/// descriptors back and wait until every captured line has been queued.
pub fn stop(id: i32) {
    let mut g = lock(&ACTIVE);
    let others = {
        let t = lock(&TARGETS);
        if !t.iter().any(|x| x.id == id) {
            return;
        }
        t.iter().any(|x| x.id != id)
    };
    if others {
        // Another experiment still captures: this one just stops receiving lines.
        lock(&TARGETS).retain(|x| x.id != id);
        return;
    }
    if let Some(mut a) = g.take() {
        end_capture(&mut a);
    }
    lock(&TARGETS).clear();
}

#[cfg(test)]
mod tests {
    use super::strip_escapes;

    fn strip(s: &str) -> String {
        String::from_utf8(strip_escapes(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn control_sequences_are_stripped_and_text_kept() {
        assert_eq!(strip("plain text"), "plain text");
        assert_eq!(strip("\x1b[?2004h> x <- 1\x1b[?2004l"), "> x <- 1");
        assert_eq!(
            strip("\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[m"),
            "red and green"
        );
        assert_eq!(strip("\x1b[?25h\x1b[?25ha message"), "a message");
        assert_eq!(
            strip("\x1b]0;title\x07text\x1b]8;;http://x\x1b\\link"),
            "textlink"
        );
        assert_eq!(strip("\x1b(Bcharset\x1b=keypad"), "charsetkeypad");
        // A sequence cut off at the end of the line goes with it.
        assert_eq!(strip("ok\x1b[12"), "ok");
        assert_eq!(strip("ok\x1b"), "ok");
    }
}
