# Tables of expected outcomes for test-hostile-input.R: for one argument of one function,
# every value of a family of values is either accepted, and what the server (or the
# object) then holds is read back and compared, or refused with a cometr_input_error
# naming the argument. Nothing else passes.

invalid_utf8 <- rawToChar(as.raw(c(0x63, 0x61, 0x66, 0xe9, 0xff)))

# Families of values, one per kind of argument. Every table names the members it
# accepts; every other member of its family must be refused.
value_families <- list(
  string = list(
    null = NULL, na = NA, na_chr = NA_character_, empty = "", number = 1, logical = TRUE,
    two = c("a", "b"), list = list("a"), factor = factor("a"), not_utf8 = invalid_utf8,
    too_long = strrep("x", 10001), utf8 = "n\u00e4me \u2713", plain = "plain_1"
  ),
  count = list(
    zero = 0, whole = 3, integer = 3L, fraction = 0.5, negative = -1, na = NA, nan = NaN,
    inf = Inf, huge = 1e20, string = "1", logical = TRUE, two = c(1, 2), null = NULL
  ),
  flag = list(
    true = TRUE, false = FALSE, na = NA, yes = "yes", two = c(TRUE, FALSE), one = 1,
    null = NULL
  ),
  metadata = list(
    null = NULL, named = list(a = 1), unnamed = list(1), nested = list(a = list(b = "c")),
    string = "x", json = '{"a":1}', number = 1, partly_named = list(a = 1, 2)
  ),
  labels = list(
    null = NULL, two = c("a", "b"), list = list("a", "b"), duplicated = c("a", "a"),
    na = NA_character_, empty_vector = character(), number = 1, nested = list(list("a")),
    not_utf8 = invalid_utf8
  ),
  key = list(
    valid = "valid_key-1", slash = "bad/key", dotdot = "../x", too_long = strrep("a", 65),
    empty = "", na = NA_character_, number = 1, null = NULL
  ),
  path = list(
    missing = "no/such/file", empty = "", na = NA_character_, null = NULL, number = 1
  )
)

# In `accept`: what is read back is the value given.
as_given <- quote(as_given)

# In `accept`: the value passes the package's checks and is sent, and the server's
# answer is an error of this class (a name it does not know, say).
answered <- function(class) structure(list(class = class), class = "answered_with")

# One table: `call(args)` with `args[[arg]]` set to each member of `family`. `accept`
# names the members accepted, each with what `read(result, args)` must then give
# (`as_given`: the value itself); `extra` adds members to the family for this table
# (a file or a folder that exists, say), `omit` leaves members out (a value that would
# block, say). `base` gives the other arguments, or is a function of the member's name
# that does (so each call can use names of its own).
outcome_table <- function(label, call, base, arg, family, accept = list(), read = NULL,
                          extra = list(), omit = character()) {
  values <- value_families[[family]]
  values[names(extra)] <- extra
  values <- values[setdiff(names(values), omit)]
  stopifnot(all(names(accept) %in% names(values)))
  for (v in names(values)) {
    args <- if (is.function(base)) base(v) else base
    args[arg] <- list(values[[v]])
    what <- sprintf("%s(%s = <%s>)", label, arg, v)
    trace <- Sys.getenv("COMETR_TABLE_TRACE")
    if (nzchar(trace)) {
      # Record what happens instead of asserting it, to write a table from.
      res <- withCallingHandlers(
        tryCatch(suppressMessages(call(args)), error = function(e) e),
        warning = function(w) invokeRestart("muffleWarning")
      )
      got <- if (inherits(res, "error")) {
        paste0(if (inherits(res, "cometr_input_error")) "REFUSED " else "ERROR ",
               class(res)[1], " [", res$argument %||% "", "] ", conditionMessage(res))
      } else {
        paste("ACCEPTED", if (!is.null(read)) {
          paste(deparse(tryCatch(read(res, args), error = function(e) conditionMessage(e))),
                collapse = " ")
        })
      }
      cat(what, "->", substr(gsub("\n", " ", got), 1, 200), "\n", file = trace, append = TRUE)
      next
    }
    if (v %in% names(accept) && inherits(accept[[v]], "answered_with")) {
      err <- tryCatch(suppressMessages(call(args)), error = function(e) e)
      expect_s3_class(err, accept[[v]]$class)
      expect_false(inherits(err, "cometr_input_error"), label = paste(what, "passes the checks"))
      next
    }
    if (v %in% names(accept)) {
      res <- withCallingHandlers(
        tryCatch(suppressMessages(call(args)), error = function(e) e),
        warning = function(w) invokeRestart("muffleWarning")
      )
      if (inherits(res, "error")) {
        fail(paste(what, "should be accepted, but:", conditionMessage(res)))
        next
      }
      if (is.null(read)) {
        succeed()
        next
      }
      want <- accept[[v]]
      if (identical(want, as_given)) want <- values[[v]]
      expect_identical(read(res, args), want, label = paste(what, "stored"))
    } else {
      err <- tryCatch(suppressMessages(call(args)), cometr_input_error = function(e) e,
                      error = function(e) e)
      if (!inherits(err, "cometr_input_error")) {
        fail(paste(what, "should be refused with a cometr_input_error, but gave:",
                   if (inherits(err, "error")) conditionMessage(err) else "no error"))
        next
      }
      expect_true(identical(err$argument, arg) || grepl(arg, conditionMessage(err), fixed = TRUE),
                  label = paste(what, "names the argument:", conditionMessage(err)))
    }
  }
}
