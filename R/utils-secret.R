# The one way the package holds a secret (an API key) in an object: wrapped in a
# closure of class `cometr_secret`, so that printing, formatting, str() or a
# condition carrying the object never shows it, and saveRDS() of an object stores
# no key in plain sight of a reader of the code that prints it.

secret <- function(value) {
  force(value)
  structure(function() value, class = "cometr_secret")
}

reveal <- function(x) if (inherits(x, "cometr_secret")) x() else x

#' @export
format.cometr_secret <- function(x, ...) "<secret>"

#' @export
print.cometr_secret <- function(x, ...) {
  cat("<secret>\n")
  invisible(x)
}
