# An experiment's data as R data: as.data.frame() of its metrics, parameters or others,
# the metrics of several experiments in one data frame, and plot() of its metrics. Each
# read goes through the experiment's get_*() methods (or, for a key, the same
# endpoints), so it first sends what this process has queued.

#' An experiment's metrics, parameters or others as a data frame
#'
#' `as.data.frame()` of an [Experiment] reads what it has logged into a data frame:
#' its metrics, one row per logged point, or its parameters or others, one row per
#' name with the latest value.
#'
#' @param x An [Experiment].
#' @param row.names,optional Ignored (part of the generic).
#' @param what `"metrics"`, `"parameters"` or `"others"`.
#' @param metrics For `what = "metrics"`, the names of the metrics to read; all when
#'   `NULL`.
#' @param ... Ignored.
#' @return For metrics, a data frame with one row per point: `metric`, `step`,
#'   `epoch` (integers, or doubles beyond the integer range; `NA` when not logged),
#'   `timestamp` (`POSIXct`), `value` (double; `NA` for a value that is not a
#'   number) and `context`. For parameters and others: `name`, `value` (the
#'   latest, a string as Comet stores it) and `timestamp`.
#' @examples
#' srv <- local_server()
#' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
#'                          log_output = FALSE, keep_active = FALSE)
#' exp$log_metrics(data.frame(step = 1:5, loss = c(0.9, 0.5, 0.4, 0.35, 0.3)))
#' exp$log_parameters(list(lr = 0.01, batch = 32))
#' as.data.frame(exp)
#' as.data.frame(exp, what = "parameters")
#' exp$stop()
#' srv$stop()
#' @export
as.data.frame.Experiment <- function(x, row.names = NULL, optional = FALSE,
                                     what = c("metrics", "parameters", "others"),
                                     metrics = NULL, ...) {
  if (!is.character(what) || length(what) == 0L || anyNA(what)) {
    abort_input("what", "must be \"metrics\", \"parameters\" or \"others\"")
  }
  what <- what[[1]]
  if (!what %in% c("metrics", "parameters", "others")) {
    abort_input("what", "must be \"metrics\", \"parameters\" or \"others\"")
  }
  check_strings(metrics, "metrics")
  switch(what,
    metrics = metric_points_frame(experiment_reader(x), metrics),
    parameters = values_frame(x$get_parameters()$values),
    others = values_frame(x$get_other()$values)
  )
}

# How to read an experiment's metrics: through an Experiment's own methods (its API
# key, its queue), or, for a key, through the endpoints with the configured key.
experiment_reader <- function(x, api_key = NULL) {
  if (inherits(x, "Experiment")) {
    return(list(key = x$get_key(), summary = function() x$get_metrics_summary(),
                metric = function(n) x$get_metric(n),
                name = function() x$get_metadata()$experimentName))
  }
  check_experiment_key(x, "experiments")
  get <- function(endpoint, ...) comet_get(endpoint, list(experimentKey = x, ...), api_key)
  list(key = x, summary = function() get("/experiment/metrics/summary"),
       metric = function(n) get("/experiment/metrics/get-metric", metricName = n),
       name = function() get("/experiment/metadata")$experimentName)
}

metric_points_frame <- function(reader, metrics = NULL) {
  names <- vapply(reader$summary()$values %||% list(), function(v) as.character(v$name), "")
  if (!is.null(metrics)) names <- intersect(names, unlist(metrics))
  parts <- lapply(names, function(n) {
    points <- reader$metric(n)$metrics %||% list()
    data.frame(
      metric = rep(n, length(points)),
      step = answer_field(points, "step", as.numeric),
      epoch = answer_field(points, "epoch", as.numeric),
      timestamp = answer_field(points, "timestamp", as.numeric),
      value = suppressWarnings(as.numeric(answer_field(points, "metricValue", as.character))),
      context = answer_field(points, "runContext", as.character),
      stringsAsFactors = FALSE
    )
  })
  out <- if (length(parts)) do.call(rbind, parts) else data.frame(
    metric = character(), step = numeric(), epoch = numeric(), timestamp = numeric(),
    value = numeric(), context = character(), stringsAsFactors = FALSE
  )
  out$step <- whole_numbers(out$step)
  out$epoch <- whole_numbers(out$epoch)
  out$timestamp <- as.POSIXct(out$timestamp / 1000, origin = "1970-01-01")
  rownames(out) <- NULL
  out
}

# One field of every record of an answer, as a vector (`NA` where it is missing).
answer_field <- function(records, field, convert) {
  empty <- convert(NA)
  vapply(records, function(r) {
    v <- r[[field]]
    if (is.null(v) || length(v) != 1L) empty else convert(v)
  }, empty)
}

# Integers when every value fits, else doubles (steps may go beyond 2^31).
whole_numbers <- function(x) {
  if (all(is.na(x) | abs(x) < .Machine$integer.max)) as.integer(x) else x
}

values_frame <- function(values) {
  values <- values %||% list()
  out <- data.frame(
    name = answer_field(values, "name", as.character),
    value = answer_field(values, "valueCurrent", as.character),
    timestamp = as.POSIXct(answer_field(values, "timestampCurrent", as.numeric) / 1000,
                           origin = "1970-01-01"),
    stringsAsFactors = FALSE
  )
  out
}

#' Compare the metrics of several experiments
#'
#' Reads the metrics of several experiments into one data frame, one row per logged
#' point, to compare runs with R's own tools (or to plot them together).
#'
#' @param experiments A list of [Experiment]s, or a character vector of experiment
#'   keys (read with `api_key`).
#' @param metrics The names of the metrics to read; all when `NULL`.
#' @param api_key Comet API key for experiments given by key (defaults to the
#'   `COMET_API_KEY` configuration).
#' @return A data frame with the columns of `as.data.frame()` of an [Experiment]'s
#'   metrics, after `experiment_key` and `experiment_name`.
#' @examples
#' srv <- local_server()
#' runs <- lapply(c(0.1, 0.01), function(lr) {
#'   run <- create_experiment(experiment_name = paste("lr", lr), log_code = FALSE,
#'                            log_system_details = FALSE, log_output = FALSE,
#'                            keep_active = FALSE)
#'   run$log_metrics(data.frame(step = 1:10, loss = 1 / (1 + lr * 10 * (1:10))))
#'   run$stop()
#' })
#' both <- compare_experiments(runs, metrics = "loss")
#' aggregate(value ~ experiment_name, data = both, FUN = min)
#' srv$stop()
#' @export
compare_experiments <- function(experiments, metrics = NULL, api_key = NULL) {
  if (inherits(experiments, "Experiment")) experiments <- list(experiments)
  if (is.character(experiments) && !is.object(experiments)) experiments <- as.list(experiments)
  if (!is.list(experiments) || is.object(experiments) || length(experiments) == 0L) {
    abort_input("experiments", "must be a list of Experiments or a vector of experiment keys")
  }
  check_strings(metrics, "metrics")
  parts <- lapply(experiments, function(x) {
    if (!inherits(x, "Experiment")) check_experiment_key(x, "experiments")
    reader <- experiment_reader(x, api_key)
    points <- metric_points_frame(reader, metrics)
    name <- reader$name() %||% NA_character_
    cbind(data.frame(experiment_key = rep(reader$key, nrow(points)),
                     experiment_name = rep(as.character(name), nrow(points)),
                     stringsAsFactors = FALSE),
          points)
  })
  out <- do.call(rbind, parts)
  rownames(out) <- NULL
  out
}

#' Plot an experiment's metrics
#'
#' Draws each metric of an [Experiment] against its steps, one panel per metric:
#' with ggplot2 when it is installed, else with base graphics.
#'
#' @param x An [Experiment].
#' @param metrics The names of the metrics to plot; all when `NULL`.
#' @param ggplot `TRUE` to draw with ggplot2, `FALSE` with base graphics; `NULL`
#'   uses ggplot2 when it is installed.
#' @param ... Passed to [graphics::plot()] (base graphics only).
#' @return The ggplot (printed), or the metrics' data frame, invisibly.
#' @examples
#' srv <- local_server()
#' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
#'                          log_output = FALSE, keep_active = FALSE)
#' exp$log_metrics(data.frame(step = 1:20, loss = 1 / (1:20), acc = 1 - 1 / (1:20)))
#' plot(exp)
#' exp$stop()
#' srv$stop()
#' @importFrom rlang .data
#' @export
plot.Experiment <- function(x, metrics = NULL, ggplot = NULL, ...) {
  check_optional_flag(ggplot, "ggplot")
  ggplot <- ggplot %||% requireNamespace("ggplot2", quietly = TRUE)
  data <- as.data.frame(x, metrics = metrics)
  data <- data[!is.na(data$value), , drop = FALSE]
  if (nrow(data) == 0L) {
    cometr_abort("The experiment has no numeric metric values to plot.", "cometr_input_error",
                 argument = "x")
  }
  # Points without a step are placed in the order they were logged.
  for (m in unique(data$metric[is.na(data$step)])) {
    rows <- data$metric == m & is.na(data$step)
    data$step[rows] <- seq_len(sum(rows))
  }
  data <- data[order(data$metric, data$step), , drop = FALSE]
  if (ggplot) {
    p <- ggplot2::ggplot(data, ggplot2::aes(x = .data$step, y = .data$value)) +
      ggplot2::geom_line() +
      ggplot2::facet_wrap(ggplot2::vars(.data$metric), scales = "free_y") +
      ggplot2::labs(x = "step", y = NULL, title = x$get_key())
    print(p)
    return(invisible(p))
  }
  names <- unique(data$metric)
  n <- length(names)
  cols <- ceiling(sqrt(n))
  old <- graphics::par(mfrow = c(ceiling(n / cols), cols))
  on.exit(graphics::par(old))
  for (m in names) {
    d <- data[data$metric == m, , drop = FALSE]
    graphics::plot(d$step, d$value, type = "l", main = m, xlab = "step", ylab = "value", ...)
  }
  invisible(data)
}
