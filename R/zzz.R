.onLoad <- function(libname, pkgname) {
  rust_set_user_agent(sprintf(
    "cometr/%s (Comet API for R; R %s; %s)",
    utils::packageVersion(pkgname), getRversion(), R.version$platform
  ))
}
