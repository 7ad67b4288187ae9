# Messages and progress bars, in cli's style.
#
# Every informative message of the package goes through cometr_inform(): a cli
# template (inline markup such as {.path}, {.fn}, {.val}; a bullet by name: "i" for
# information, "v" for success, "!" for a caveat), raised as a condition of class
# `cometr_message` (and `rlang_message`, `message`), so `suppressMessages()` and
# `tryCatch(message = )` work as with message(). Values are interpolated by cli
# (`{name}`), never pasted into the template, so braces in user data are text.
#
# Messages are not wrapped at the console's width: each stays on one line, so a path
# or a URL in it can be copied whole and a log of an Rscript run can be searched.

cometr_inform <- function(template, class = NULL, .envir = parent.frame()) {
  old <- options(cli.width = 100000L)
  on.exit(options(old), add = TRUE)
  cli::cli_inform(template, class = c(class, "cometr_message"), .envir = .envir)
}

# Progress bars on transfers: shown by cli once a transfer has taken about 2 seconds
# (option `cli.progress_show_after`), in interactive sessions, or wherever the option
# `cometr.progress` is TRUE (FALSE turns them off everywhere).
progress_wanted <- function() {
  isTRUE(getOption("cometr.progress", interactive()))
}

# A progress bar over `total` units (bytes when `bytes`), or NULL when progress is not
# wanted. The caller ends it with progress_end() (on.exit), also on an error.
progress_start <- function(what, total, bytes = TRUE) {
  if (!progress_wanted() || !is.finite(total) || total <= 0) return(NULL)
  # `what` holds user data (names, paths): braces in it are text, not cli markup.
  what <- gsub("}", "}}", gsub("{", "{{", what, fixed = TRUE), fixed = TRUE)
  format <- if (bytes) {
    "{cli::pb_spin} %s {cli::pb_bar} {cli::pb_current_bytes}/{cli::pb_total_bytes} | ETA {cli::pb_eta}"
  } else {
    "{cli::pb_spin} %s {cli::pb_bar} {cli::pb_current}/{cli::pb_total} | ETA {cli::pb_eta}"
  }
  bar <- new.env(parent = emptyenv())
  bar$id <- cli::cli_progress_bar(total = total, format = sprintf(format, what), clear = TRUE,
                                  .auto_close = FALSE)
  bar$total <- total
  bar$start <- bar$last <- Sys.time()
  bar
}

# Move the bar to `done`. It is drawn once the transfer has taken
# `cli.progress_show_after` seconds (2 by default), then at most four times a second:
# the redraws are timed here, since cli's own timer did not always let a bar that
# followed another one be drawn at all.
progress_set <- function(bar, done) {
  if (is.null(bar)) return(invisible())
  now <- Sys.time()
  after <- getOption("cli.progress_show_after", 2)
  due <- as.numeric(now - bar$start, units = "secs") >= after &&
    (as.numeric(now - bar$last, units = "secs") >= 0.25 || done >= bar$total)
  cli::cli_progress_update(id = bar$id, set = done, force = due)
  if (due) bar$last <- now
  invisible()
}

progress_end <- function(bar) {
  if (!is.null(bar)) cli::cli_progress_done(id = bar$id)
  invisible()
}
