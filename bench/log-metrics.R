# Benchmark of log_metrics() with a data frame, the fast path for a whole training
# history, against the embedded local server, next to log_metric() called once per value
# in an R loop in the same process against the same server.
#
#   Rscript bench/log-metrics.R            (after installing the package)
#
# Targets: a 100,000-step data frame (step and epoch columns, two metrics: 200,000
# points) queues in under 50 ms and is delivered to the local server (`$stop()` returns
# once the server has acknowledged every point) in under 2 s from the call. The script
# exits with status 1 when a target is missed.
#
# As in bench/experiment.R, the targets are judged by CPU time, and wall-clock times are
# printed beside them: on a machine with fewer cores than busy threads, wall-clock time
# mostly counts the wait for a core. Queueing is timed by the R thread's own CPU time
# (Linux reports it per thread); delivery by the CPU time of the whole process, every
# thread together: the R thread, the sender's and the local server's (which runs in the
# same process, and does most of the work: parsing, SQLite). Without other load, the
# wall-clock time of delivery is at most about that.

suppressMessages(library(cometr))

srv <- local_server()
quiet_experiment <- function() {
  suppressMessages(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                     log_output = FALSE, keep_active = FALSE))
}

results <- list()
record <- function(name, value, unit, target = NA) {
  results[[length(results) + 1L]] <<- data.frame(
    benchmark = name, median = signif(value, 4), unit = unit, target = target
  )
  cat(sprintf("%-52s %10.4g %-3s (target %s)\n", name, value, unit, target))
}

n <- 100000
history <- data.frame(step = seq_len(n), epoch = (seq_len(n) - 1L) %/% 1000L,
                      loss = 1 / sqrt(seq_len(n)), accuracy = 1 - 1 / sqrt(seq_len(n)))
points <- n * 2

schedstat <- sprintf("/proc/self/task/%d/schedstat", Sys.getpid())
thread_clock <- if (file.exists(schedstat)) {
  function() as.numeric(strsplit(readLines(schedstat), " ", fixed = TRUE)[[1]][1]) / 1e9
} else {
  function() proc.time()[["elapsed"]]
}
process_clock <- function() {
  p <- proc.time()
  p[["user.self"]] + p[["sys.self"]]
}
wall_clock <- function() proc.time()[["elapsed"]]
clocks <- function() c(wall = wall_clock(), thread = thread_clock(), process = process_clock())

# 1. log_metrics() of the whole data frame: time to queue (the call), and time from the
# call until the server has acknowledged every point. Median of 5 runs, each its own
# experiment, each checked afterwards.
runs <- replicate(5, {
  exp <- quiet_experiment()
  t0 <- clocks()
  exp$log_metrics(history)
  t1 <- clocks()
  exp$stop()
  t2 <- clocks()
  got <- suppressMessages(get_experiment(exp$get_key()))
  loss <- Filter(function(v) v$name == "loss", got$get_metrics_summary()$values)[[1]]
  got$stop()
  stopifnot(as.numeric(loss$stepMax) == n, as.numeric(loss$stepMin) == 1)
  c(queued_wall = t1[["wall"]] - t0[["wall"]], queued_cpu = t1[["thread"]] - t0[["thread"]],
    delivered_wall = t2[["wall"]] - t0[["wall"]],
    delivered_cpu = t2[["process"]] - t0[["process"]])
})
per_run <- apply(runs, 1, median)

# Every point arrived, once: the last run's loss read back in full.
exp <- quiet_experiment()
exp$log_metrics(history)
got <- exp$get_metric("loss")$metrics
stopifnot(length(got) == n)
exp$stop()

# 2. The same points with log_metric() called once per value (median of 3 runs).
loop <- replicate(3, {
  exp <- quiet_experiment()
  step <- history$step
  epoch <- history$epoch
  loss <- history$loss
  accuracy <- history$accuracy
  t0 <- clocks()
  for (i in seq_len(n)) {
    exp$log_metric("loss", loss[[i]], step = step[[i]], epoch = epoch[[i]])
    exp$log_metric("accuracy", accuracy[[i]], step = step[[i]], epoch = epoch[[i]])
  }
  t1 <- clocks()
  exp$stop()
  t2 <- clocks()
  c(queued_wall = t1[["wall"]] - t0[["wall"]], queued_cpu = t1[["thread"]] - t0[["thread"]],
    delivered_wall = t2[["wall"]] - t0[["wall"]],
    delivered_cpu = t2[["process"]] - t0[["process"]])
})
per_loop <- apply(loop, 1, median)

srv$stop()
cat(sprintf("log_metrics() of a %s-step data frame (%s points); load average %s on %d cores\n",
            format(n, big.mark = ",", scientific = FALSE),
            format(points, big.mark = ",", scientific = FALSE),
            strsplit(readLines("/proc/loadavg"), " ")[[1]][1], parallel::detectCores()))
record("log_metrics(data frame): queued, R thread CPU", per_run[["queued_cpu"]] * 1000, "ms",
       "< 50")
record("  the same, wall clock", per_run[["queued_wall"]] * 1000, "ms")
record("log_metrics(data frame): delivered, process CPU", per_run[["delivered_cpu"]], "s", "< 2")
record("  the same, wall clock", per_run[["delivered_wall"]], "s")
record("log_metric() per value: queued, R thread CPU", per_loop[["queued_cpu"]] * 1000, "ms")
record("log_metric() per value: delivered, process CPU", per_loop[["delivered_cpu"]], "s")
record("  the same, wall clock", per_loop[["delivered_wall"]], "s")
record("queueing: per-value loop / log_metrics()",
       per_loop[["queued_cpu"]] / per_run[["queued_cpu"]], "x")
record("delivery: per-value loop / log_metrics()",
       per_loop[["delivered_cpu"]] / per_run[["delivered_cpu"]], "x")
out <- do.call(rbind, results)
print(out, row.names = FALSE)
failed <- c(
  if (per_run[["queued_cpu"]] >= 0.05) {
    sprintf("queued in %.1f ms (target: under 50 ms)", per_run[["queued_cpu"]] * 1000)
  },
  if (per_run[["delivered_cpu"]] >= 2) {
    sprintf("delivered in %.2f s (target: under 2 s)", per_run[["delivered_cpu"]])
  }
)
if (length(failed) > 0L) {
  message("log_metrics() of a data frame missed its targets: ", paste(failed, collapse = "; "))
  quit(status = 1)
}
invisible(out)
