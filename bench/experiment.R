# Benchmarks of experiment logging against the embedded local server, each next to a
# baseline run in the same process against the same server: one blocking HTTP request
# per logged value, which is what cometr 0.4.0 does.
#
#   Rscript bench/experiment.R            (after installing the package)
#
# Targets: log_metric() at most 3 times an empty R6 method call with the same arguments
# (the script exits with status 1 otherwise) and at most 10 us per call in the R loop;
# 1,000,000 points delivered within 30 s of the first call; the R process grows by at
# most 64 MiB while doing it; create_experiment() with all defaults at most 50 ms.

suppressMessages(library(cometr))

rss_mib <- function(field = "VmRSS") {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line)) / 1024
}

srv <- local_server()
quiet_experiment <- function() {
  suppressMessages(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                     log_output = FALSE, keep_active = FALSE))
}

results <- list()
record <- function(name, value, unit, target = NA, baseline = NA) {
  results[[length(results) + 1L]] <<- data.frame(
    benchmark = name, median = signif(value, 4), unit = unit,
    target = target, baseline_0.4.0_style = signif(baseline, 4)
  )
  cat(sprintf("%-45s %10.4g %-4s (target %s, baseline %s)\n", name, value, unit, target,
              format(signif(baseline, 4))))
}

# 1. Cost of one log_metric() call in the R loop, against an empty R6 method called
# with the same arguments in the same process. Batches of each alternate, so both see
# the same machine; the per-call figures are medians over the batches.
#
# Time is the R thread's own CPU time where Linux reports it per thread: on a machine
# shorter of cores than there are busy threads, wall-clock time also counts the time
# the R thread waits for a core, here mostly behind the local server and the sender
# running in the same process. Wall-clock figures are printed too.
schedstat <- sprintf("/proc/self/task/%d/schedstat", Sys.getpid())
clock_kind <- if (file.exists(schedstat)) "R thread CPU time" else "wall clock"
thread_clock <- if (file.exists(schedstat)) {
  function() as.numeric(strsplit(readLines(schedstat), " ", fixed = TRUE)[[1]][1]) / 1e9
} else {
  function() proc.time()[["elapsed"]]
}
Empty <- R6::R6Class("Empty", public = list(
  log_metric = function(name, value, step = NULL, epoch = NULL, context = NULL) {}
))
empty <- Empty$new()
exp <- quiet_experiment()
n <- 20000
batches <- replicate(15, {
  w0 <- proc.time()[["elapsed"]]
  c0 <- thread_clock()
  for (i in seq_len(n)) empty$log_metric("loss", i / n, step = i)
  w1 <- proc.time()[["elapsed"]]
  c1 <- thread_clock()
  for (i in seq_len(n)) exp$log_metric("loss", i / n, step = i)
  w2 <- proc.time()[["elapsed"]]
  c2 <- thread_clock()
  c(empty = c1 - c0, log_metric = c2 - c1, empty_wall = w1 - w0, log_metric_wall = w2 - w1) /
    n * 1e6
})
exp$stop()
per_call <- apply(batches, 1, median)

# Baseline: a blocking POST per value, as 0.4.0 sends it (median of 5 runs of 500).
exp <- quiet_experiment()
key <- exp$get_key()
baseline <- replicate(5, {
  n <- 500
  t <- system.time(for (i in seq_len(n)) {
    call_api("/write/experiment/metric", "POST", list(
      experimentKey = key, metricName = "loss", metricValue = i / n, step = i,
      timestamp = round(as.numeric(Sys.time()) * 1000)))
  })[["elapsed"]]
  t / n * 1e6
})
exp$stop()
ratio <- per_call[["log_metric"]] / per_call[["empty"]]
cat("log_metric() against an empty R6 method call, timed by", clock_kind, "\n")
record("empty R6 method call, same arguments", per_call[["empty"]], "us")
record("log_metric() per call", per_call[["log_metric"]], "us", "<= 10", median(baseline))
record("log_metric() / empty R6 method call", ratio, "x", "<= 3")
record("  the same, wall clock", per_call[["log_metric_wall"]] / per_call[["empty_wall"]], "x")
record("blocking request per value / log_metric()", median(baseline) / per_call[["log_metric"]],
       "x")

# 2. 1,000,000 points delivered, and how much the process grows meanwhile.
invisible(gc())
rss_before <- rss_mib()
exp <- quiet_experiment()
n <- 1e6
peak <- rss_before
t0 <- Sys.time()
for (i in seq_len(n)) {
  exp$log_metric("big", i, step = i)
  if (i %% 100000 == 0) peak <- max(peak, rss_mib())
}
exp$stop()
delivered_after <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
peak <- max(peak, rss_mib())
got <- get_experiment(exp$get_key())
summary <- suppressMessages(got)$get_metrics_summary()$values
big <- Filter(function(v) v$name == "big", summary)[[1]]
got$stop()
stopifnot(as.numeric(big$stepMax) == n)
record("1e6 points delivered (s from first call)", delivered_after, "s", "<= 30",
       median(baseline) * n / 1e6)
record("R process growth while logging 1e6 points", peak - rss_before, "MiB", "<= 64")

# 3. create_experiment() with all defaults (median of 21, after one warm-up).
times <- replicate(21, {
  t <- system.time(e <- suppressMessages(create_experiment()))[["elapsed"]]
  e$stop()
  t * 1000
})
record("create_experiment() with all defaults", median(times), "ms", "<= 50")

srv$stop()
out <- do.call(rbind, results)
print(out, row.names = FALSE)
if (ratio > 3) {
  message(sprintf("log_metric() costs %.2f times an empty R6 method call (target: at most 3)",
                  ratio))
  quit(status = 1)
}
invisible(out)
