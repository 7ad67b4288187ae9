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
      "cometr: %d spool file(s) in %s hold logged data that was never delivered. Run cometr::send_spool() to send it.",
      length(left), dirname(left[[1]])
    ))
  }
}
