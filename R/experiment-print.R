# print() of an Experiment: the line cometr 0.4.0 printed (`Comet experiment <url> `),
# then the name, key, project, state and what is still queued. Printing reads only
# what this session knows: it makes no request.

# Names given at creation or read at retrieval, by experiment key (an Experiment
# object holds no name of its own).
experiment_names <- new.env(parent = emptyenv())

remember_experiment_name <- function(key, name) {
  if (is_single_string(key) && is_single_string(name)) assign(key, name, envir = experiment_names)
  invisible()
}

# The message of create_experiment() when another experiment is current.
inform_replacing <- function(current) {
  key <- current$get_key()
  cometr_inform(c(i = "Existing experiment {key} will be stopped because a new experiment is being created."))
}

exp_print <- function(self, private) {
  cat("Comet experiment", private$url, "\n")
  key <- private$key
  name <- if (exists(key, envir = experiment_names, inherits = FALSE)) {
    get(key, envir = experiment_names, inherits = FALSE)
  }
  project <- paste(c(private$workspace, private$project), collapse = "/")
  state <- if (private$ended) {
    "ended"
  } else if (!is.null(private$offline)) {
    sprintf("running, recorded offline in %s", private$offline$run_dir)
  } else {
    "running"
  }
  pending <- tryCatch(rust_result(rust_experiment_pending(private$stream)),
                      error = function(e) NULL)
  queued <- if (is.null(pending)) {
    "unknown"
  } else if (pending$items == 0) {
    "nothing"
  } else if (pending$files > 0) {
    sprintf("%s (%s)", n_of(pending$items, "item"), n_of(pending$files, "file"))
  } else {
    n_of(pending$items, "item")
  }
  fields <- c(name = name %||% "(none given)", key = key,
              project = if (nzchar(project)) project else "(unknown)",
              state = state, queued = queued)
  cat(sprintf("  %-8s %s\n", paste0(names(fields), ":"), fields), sep = "")
  invisible(self)
}
