# The package is a drop-in replacement: every function and R6 method of cometr 0.4.0
# exists with the same formals, in the same order, with the same defaults.
signatures <- jsonlite::read_json(fixture("cometr-0.4.0-signatures.json"))

formals_as_strings <- function(f) {
  fm <- formals(f)
  if (length(fm) == 0) return(structure(character(), names = character()))
  vapply(fm, function(x) {
    if (is.symbol(x) && identical(as.character(x), "")) "<required>" else paste(deparse(x), collapse = "")
  }, character(1))
}

expected_formals <- function(spec) {
  if (length(spec) == 0) return(structure(character(), names = character()))
  unlist(spec)
}

test_that("every exported function has the signature of cometr 0.4.0", {
  ns <- asNamespace("cometr")
  for (fn in names(signatures$functions)) {
    expect_true(fn %in% getNamespaceExports("cometr"), label = paste(fn, "is exported"))
    if (!exists(fn, envir = ns)) next
    expect_identical(formals_as_strings(get(fn, envir = ns)),
                     expected_formals(signatures$functions[[fn]]),
                     label = paste("formals of", fn))
  }
})

test_that("every R6 class and method has the signature of cometr 0.4.0", {
  ns <- asNamespace("cometr")
  for (cls in names(signatures$classes)) {
    expect_true(cls %in% getNamespaceExports("cometr"), label = paste(cls, "is exported"))
    if (!exists(cls, envir = ns)) next
    gen <- get(cls, envir = ns)
    spec <- signatures$classes[[cls]]
    parent <- spec$inherit
    if (is.null(parent)) {
      expect_null(gen$get_inherit(), label = paste(cls, "inherits nothing"))
    } else {
      expect_identical(gen$get_inherit()$classname, parent, label = paste(cls, "inherits", parent))
    }
    for (m in names(spec$methods)) {
      f <- gen$public_methods[[m]]
      expect_true(is.function(f), label = paste0(cls, "$", m, " exists"))
      if (is.function(f)) {
        expect_identical(formals_as_strings(f), expected_formals(spec$methods[[m]]),
                         label = paste0("formals of ", cls, "$", m))
      }
    }
  }
})
