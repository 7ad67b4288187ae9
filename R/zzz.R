.onLoad <- function(libname, pkgname) {
  rust_result(rust_set_user_agent(sprintf(
    "cometr/%s (Comet API for R; R %s; %s)",
    utils::packageVersion(pkgname), getRversion(), R.version$platform
  )))
  log_metric_routine <<- cometr_log_metric$address
}

.onAttach <- function(libname, pkgname) {
  left <- tryCatch(leftover_spools(), error = function(e) character())
  if (length(left) > 0L) {
    packageStartupMessage(sprintf(
      "cometr: %s in %s %s logged data that was never delivered. Run cometr::send_spool() to send it.",
      n_of(length(left), "spool file"), dirname(left[[1]]), if (length(left) == 1L) "holds" else "hold"
    ))
  }
}
