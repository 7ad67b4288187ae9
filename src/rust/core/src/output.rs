//! Output capture for `log_output` / `log_error`, with no extra process and without
//! hiding anything: file descriptors 1 and 2 are redirected into pipes, and one reader
//! thread copies every byte back to the original descriptors at once (so the console
//! shows everything as before) while cutting the stream into lines for the
//! experiments' queues. Lines keep their order within each stream (the order between
//! a stdout line and a stderr line written at nearly the same moment can differ, as
//! they travel through two pipes); stderr lines are flagged.

use std::os::fd::RawFd;
use std::sync::Mutex;
use std::thread::JoinHandle;

use crate::outbox;

struct Active {
    /// (captured fd, saved copy of the original, pipe read end) per stream.
    fds: Vec<(RawFd, RawFd, RawFd)>,
    reader: Option<JoinHandle<()>>,
    /// Experiment streams that receive the lines.
    targets: std::sync::Arc<Mutex<Vec<i32>>>,
}

static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);
/// True while the reader handles a chunk it has taken out of a pipe.
static BUSY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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

/// Make sure every byte printed so far has been queued: push what the C library
/// still buffers into the pipe, then wait (up to 2 s) until the reader has emptied the
/// pipes. Reads call this, so that `get_output()` sees what was printed before it.
pub fn flush() {
    flush_c_stdout();
    let reads: Vec<RawFd> = match ACTIVE.lock() {
        Ok(g) => match g.as_ref() {
            Some(a) => a.fds.iter().map(|&(_, _, r)| r).collect(),
            None => return,
        },
        Err(_) => return,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
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
        if pending == 0 && !BUSY.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        if std::time::Instant::now() > deadline {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
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

/// Queue one line. Complete lines keep their newline, as Comet joins the `output` of
/// consecutive entries verbatim; the last, unterminated line has none.
fn deliver(targets: &Mutex<Vec<i32>>, line: &[u8], stderr: bool, complete: bool) {
    let text = String::from_utf8_lossy(line);
    let mut text = text.strip_suffix('\r').unwrap_or(&text).to_string();
    if complete {
        text.push('\n');
    }
    let text = text.as_str();
    let ids = targets.lock().map(|t| t.clone()).unwrap_or_default();
    for id in ids {
        if let Some(s) = outbox::get(id) {
            s.push_output(text, stderr);
        }
    }
}

/// Start capturing stdout and/or stderr into the outbox `id`. A second experiment
/// joins the running capture.
pub fn start(id: i32, out: bool, err: bool) -> Result<(), String> {
    let mut g = ACTIVE.lock().map_err(|_| "capture lock poisoned")?;
    if let Some(a) = g.as_ref() {
        if let Ok(mut t) = a.targets.lock() {
            if !t.contains(&id) {
                t.push(id);
            }
        }
        return Ok(());
    }
    flush_c_stdout();
    let mut fds = Vec::new();
    if out {
        let (saved, read) = redirect(1)?;
        fds.push((1, saved, read));
    }
    if err {
        match redirect(2) {
            Ok((saved, read)) => fds.push((2, saved, read)),
            Err(e) => {
                restore(&fds);
                return Err(e);
            }
        }
    }
    let targets = std::sync::Arc::new(Mutex::new(vec![id]));
    let t2 = targets.clone();
    let plan: Vec<(RawFd, RawFd, bool)> = fds
        .iter()
        .map(|&(fd, saved, read)| (read, saved, fd == 2))
        .collect();
    let reader = std::thread::Builder::new()
        .name("cometr-capture".into())
        .spawn(move || {
            crate::http::block_sigpipe();
            read_loop(plan, t2)
        })
        .map_err(|e| e.to_string())?;
    *g = Some(Active {
        fds,
        reader: Some(reader),
        targets,
    });
    Ok(())
}

fn read_loop(plan: Vec<(RawFd, RawFd, bool)>, targets: std::sync::Arc<Mutex<Vec<i32>>>) {
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); plan.len()];
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
            BUSY.store(true, std::sync::atomic::Ordering::Release);
            // SAFETY: reading into a buffer we own.
            let n = unsafe { libc::read(read, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 {
                let e = std::io::Error::last_os_error();
                if n < 0 && e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                BUSY.store(false, std::sync::atomic::Ordering::Release);
                open[i] = false;
                continue;
            }
            let chunk = &buf[..n as usize];
            write_all(saved, chunk);
            let acc = &mut partial[i];
            for &b in chunk {
                if b == b'\n' {
                    deliver(&targets, acc, is_err, true);
                    acc.clear();
                } else {
                    acc.push(b);
                }
            }
            BUSY.store(false, std::sync::atomic::Ordering::Release);
        }
    }
    // The last line without a newline still counts.
    for (i, acc) in partial.iter().enumerate() {
        if !acc.is_empty() {
            deliver(&targets, acc, plan[i].2, false);
        }
    }
}

fn restore(fds: &[(RawFd, RawFd, RawFd)]) {
    for &(fd, saved, _) in fds {
        // SAFETY: putting back the descriptors saved by `redirect`.
        unsafe {
            libc::dup2(saved, fd);
            libc::close(saved);
        }
    }
}

/// Stop feeding outbox `id`; when no experiment is left, give the console its
/// descriptors back and wait until every captured line has been queued.
pub fn stop(id: i32) {
    let Ok(mut g) = ACTIVE.lock() else {
        return;
    };
    let others = match g.as_ref() {
        Some(a) => a
            .targets
            .lock()
            .map(|t| t.iter().any(|&x| x != id))
            .unwrap_or(false),
        None => return,
    };
    if others {
        // Another experiment still captures: this one just stops receiving lines.
        if let Some(a) = g.as_ref() {
            if let Ok(mut t) = a.targets.lock() {
                t.retain(|&x| x != id);
            }
        }
        return;
    }
    if let Some(mut a) = g.take() {
        flush_c_stdout();
        // Putting the original descriptors back closes the pipes' last write ends:
        // the reader drains what is left (still copying it to the saved originals,
        // so those stay open until it is done), sees end of file and finishes.
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
    }
}
