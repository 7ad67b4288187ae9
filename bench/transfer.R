# Benchmark of artifact transfers and hashing (not run by the tests).
#
#   Rscript bench/transfer.R [library-dir] [size-in-MiB]
#
# Logs a one-file artifact of 1 GiB (by default) to a local server running in another
# R process (so that the server's memory is not counted), downloads it back, and
# reports for each step the wall time, the throughput and the peak resident memory of
# this R process (VmHWM from /proc/self/status, reset before each step through
# /proc/self/clear_refs), against the same steps for a 1 KiB file. Then it times SHA-1
# and SHA-256 of the big file. Linux only.
args <- commandArgs(TRUE)
lib <- if (length(args) >= 1 && nzchar(args[1])) args[1] else NULL
size_mib <- if (length(args) >= 2) as.numeric(args[2]) else 1024
if (!is.null(lib)) .libPaths(c(lib, .libPaths()))
suppressPackageStartupMessages(library(cometr))

status_kib <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line))
}
reset_peak <- function() {
  invisible(gc(full = TRUE))
  ok <- tryCatch({
    cat("5", file = "/proc/self/clear_refs")
    TRUE
  }, error = function(e) FALSE)
  if (!ok) warning("cannot reset VmHWM; peaks are since process start")
}
measure <- function(expr) {
  reset_peak()
  t0 <- proc.time()[["elapsed"]]
  force(expr)
  list(seconds = proc.time()[["elapsed"]] - t0, peak_mib = status_kib("VmHWM") / 1024,
       rss_mib = status_kib("VmRSS") / 1024)
}

# The server, in its own R process.
work <- tempfile("cometr-bench-")
dir.create(work)
srv_dir <- file.path(work, "server")
port <- sample(20000:60000, 1)
rscript <- file.path(R.home("bin"), "Rscript")
expr <- sprintf(
  ".libPaths(c(%s, .libPaths())); cometr::local_server(dir = %s, port = %dL, activate = FALSE, block = TRUE)",
  deparse(.libPaths()[1]), deparse(srv_dir), port
)
server <- processx::process$new(rscript, c("-e", expr), stdout = "|", stderr = "|")
on.exit(server$kill(), add = TRUE)
url <- sprintf("http://127.0.0.1:%d/clientlib/", port)
for (i in 1:100) {
  con <- base::url(paste0(url, "isAlive/ver"))
  up <- tryCatch({
    readLines(con, warn = FALSE)
    TRUE
  }, error = function(e) FALSE, warning = function(w) FALSE)
  try(close(con), silent = TRUE)
  if (up) break
  Sys.sleep(0.1)
}
if (!up) stop("the server did not start: ", server$read_all_error())
Sys.setenv(COMET_URL_OVERRIDE = url, COMET_API_KEY = "bench-key")
key <- call_api("/write/experiment/create", "POST",
                list(projectName = "bench", workspaceName = "local"))$experimentKey

make_file <- function(path, bytes) {
  con <- file(path, "wb")
  on.exit(close(con))
  chunk <- as.raw(sample.int(256, min(bytes, 16 * 2^20), replace = TRUE) - 1L)
  left <- bytes
  while (left > 0) {
    n <- min(left, length(chunk))
    writeBin(chunk[seq_len(n)], con)
    left <- left - n
  }
}

round_trip <- function(name, bytes) {
  f <- file.path(work, name)
  make_file(f, bytes)
  a <- create_artifact(name, "bench")
  a$add(f)
  up <- measure(logged <- suppressMessages(cometr:::artifact_log(key, a, NULL)))
  out <- file.path(work, paste0(name, "-out"))
  down <- measure(suppressMessages(logged$download(out)))
  same <- identical(cometr:::sha1_file(f), cometr:::sha1_file(file.path(out, name)))
  list(file = f, up = up, down = down, same = same)
}

small <- round_trip("small.bin", 1024)
big_bytes <- size_mib * 2^20
big <- round_trip("big.bin", big_bytes)
sha1 <- measure(h1 <- cometr:::sha1_file(big$file))
sha256 <- measure(h2 <- cometr:::sha256_file(big$file))

mbs <- function(bytes, s) bytes / 1e6 / s
cat(sprintf("R %s, %s, %d cores; file %g MiB\n", getRversion(), R.version$platform,
            parallel::detectCores(), size_mib))
cat(sprintf("%-22s %10s %12s %14s\n", "step", "seconds", "MB/s", "peak RSS MiB"))
row <- function(label, m, bytes) {
  cat(sprintf("%-22s %10.2f %12.1f %14.1f\n", label, m$seconds,
              if (is.null(bytes)) NA else mbs(bytes, m$seconds), m$peak_mib))
}
row("upload 1 KiB", small$up, NULL)
row("download 1 KiB", small$down, NULL)
row(sprintf("upload %g MiB", size_mib), big$up, big_bytes)
row(sprintf("download %g MiB", size_mib), big$down, big_bytes)
row(sprintf("SHA-1 %g MiB", size_mib), sha1, big_bytes)
row(sprintf("SHA-256 %g MiB", size_mib), sha256, big_bytes)
cat(sprintf("peak RSS over the 1 KiB transfer: upload %+.1f MiB, download %+.1f MiB\n",
            big$up$peak_mib - small$up$peak_mib, big$down$peak_mib - small$down$peak_mib))
cat(sprintf("downloaded bytes identical: %s / %s\n", small$same, big$same))
unlink(work, recursive = TRUE)
