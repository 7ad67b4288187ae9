# The one way the package holds a secret (an API key) in an object: the object keeps
# only an id of class `cometr_secret` into `secret_registry`, an environment of the
# package namespace. The namespace is never serialized with an object, so saveRDS(),
# serialize() or save() of an Experiment, a LocalServer or a LoggedArtifact stores no
# key material; printing, format() and str() show "<secret>". Read back in another
# session, the id is unknown there and reveal() gives NULL: every call then resolves
# the key from the configuration, as it does when no key was given.

secret_registry <- new.env(parent = emptyenv())

secret <- function(value) {
  force(value)
  if (is.null(value)) return(NULL)
  ids <- ls(secret_registry, all.names = TRUE)
  for (id in ids) {
    if (identical(secret_registry[[id]], value)) return(structure(id, class = "cometr_secret"))
  }
  # Unique across sessions (process id and start time), so an id read back elsewhere
  # never names another session's key; no random numbers, the user's seed is theirs.
  id <- sprintf("s%d-%s-%d", Sys.getpid(), format(unclass(Sys.time()) * 1e6, scientific = FALSE),
                length(ids) + 1L)
  assign(id, value, envir = secret_registry)
  structure(id, class = "cometr_secret")
}

reveal <- function(x) {
  if (!inherits(x, "cometr_secret")) return(x)
  id <- unclass(x)
  if (exists(id, envir = secret_registry, inherits = FALSE)) secret_registry[[id]] else NULL
}

#' @export
format.cometr_secret <- function(x, ...) "<secret>"

#' @export
print.cometr_secret <- function(x, ...) {
  cat("<secret>\n")
  invisible(x)
}
