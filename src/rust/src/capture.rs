//! Output capture for `log_output` / `log_error`, with no extra process and without
//! hiding anything: file descriptors 1 and 2 are redirected into pipes, and one reader
//! thread copies every byte back to the original descriptors at once (so the console
//! shows everything as before) while cutting the stream into lines for the
//! experiments' queues. Lines keep their order; stderr lines are flagged.

use std::os::fd::RawFd;
use std::sync::Mutex;
use std::thread::JoinHandle;

use crate::stream;

struct Active {
    /// (captured fd, saved copy of the original, pipe read end) per stream.
    fds: Vec<(RawFd, RawFd, RawFd)>,
    reader: Option<JoinHandle<()>>,
    /// Experiment streams that receive the lines.
    targets: std::sync::Arc<Mutex<Vec<i32>>>,
}

static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

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

/// Push what the C library still buffers for stdout into the pipe.
pub fn flush() {
    flush_c_stdout();
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

fn deliver(targets: &Mutex<Vec<i32>>, line: &[u8], stderr: bool) {
    let text = String::from_utf8_lossy(line);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    let ids = targets.lock().map(|t| t.clone()).unwrap_or_default();
    for id in ids {
        if let Some(s) = stream::get(id) {
            s.push_output(text, stderr);
        }
    }
}

/// Start capturing stdout and/or stderr into the stream `id`. A second experiment
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
    // Line-buffer stdout from now on, so lines reach the pipe as they are printed and
    // interleave with stderr in the order they were written.
    // SAFETY: setvbuf on the process's stdout after a flush.
    unsafe {
        libc::setvbuf(stdout, std::ptr::null_mut(), libc::_IOLBF, 0);
    }
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
        .spawn(move || read_loop(plan, t2))
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
            // SAFETY: reading into a buffer we own.
            let n = unsafe { libc::read(read, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 {
                if n < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                open[i] = false;
                continue;
            }
            let chunk = &buf[..n as usize];
            write_all(saved, chunk);
            let acc = &mut partial[i];
            for &b in chunk {
                if b == b'\n' {
                    deliver(&targets, acc, is_err);
                    acc.clear();
                } else {
                    acc.push(b);
                }
            }
        }
    }
    // The last line without a newline still counts.
    for (i, acc) in partial.iter().enumerate() {
        if !acc.is_empty() {
            deliver(&targets, acc, plan[i].2);
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

/// Stop feeding stream `id`; when no experiment is left, give the console its
/// descriptors back and wait until every captured line has been queued.
pub fn stop(id: i32) {
    let Ok(mut g) = ACTIVE.lock() else {
        return;
    };
    let last = match g.as_ref() {
        Some(a) => {
            let mut t = a.targets.lock().unwrap_or_else(|e| e.into_inner());
            t.retain(|&x| x != id);
            t.is_empty()
        }
        None => return,
    };
    if !last {
        return;
    }
    if let Some(mut a) = g.take() {
        flush_c_stdout();
        // Restoring the descriptors closes the pipes' last write ends: the reader
        // drains what is left, sees end of file and finishes.
        restore(&a.fds);
        if let Some(r) = a.reader.take() {
            let _ = r.join();
        }
        for &(_, _, read) in &a.fds {
            // SAFETY: closing the read ends owned by the finished reader.
            unsafe {
                libc::close(read);
            }
        }
    }
}
