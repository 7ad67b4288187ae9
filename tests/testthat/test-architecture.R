# The layout ARCHITECTURE.md draws: within each crate, modules never import each other
# in a loop, directly or through others; the server crate uses no client code. These
# read the sources, so they run where the package's source tree is at hand (CI), not
# in R CMD check of an installed copy.

rust_crates <- function() {
  top <- normalizePath(test_path("..", ".."), mustWork = FALSE)
  dirs <- file.path(top, "src", "rust", c("src", "core/src", "server/src"))
  if (!all(dir.exists(dirs))) skip_on_cran()
  stats::setNames(dirs, c("cometr", "cometr-core", "cometr-server"))
}

# Module name of a source file: `handlers/assets.rs` -> "handlers", `store/mod.rs` -> "store".
module_of <- function(rel) {
  first <- sub("/.*$", "", rel)
  sub("[.]rs$", "", first)
}

# The module graph of one crate: top-level module -> top-level modules it names through
# `crate::x` or `use crate::{x, ...}` (test-only modules and the binary left out).
module_edges <- function(dir) {
  files <- list.files(dir, "[.]rs$", recursive = TRUE)
  files <- files[!grepl("^(bin/|lib[.]rs$)", files)]
  edges <- list()
  for (rel in files) {
    from <- module_of(rel)
    text <- readLines(file.path(dir, rel), warn = FALSE)
    # Code under #[cfg(test)] may reach anywhere; stop reading at the first test module.
    cut <- grep("^\\s*#\\[cfg\\(test\\)\\]", text)
    if (length(cut)) text <- text[seq_len(cut[1] - 1L)]
    text <- text[!grepl("^\\s*//", text)]
    one <- unlist(regmatches(text, gregexpr("crate::[a-z_]+", text)))
    grouped <- unlist(regmatches(text, gregexpr("crate::\\{[^}]*\\}", text)))
    inner <- unlist(strsplit(gsub("crate::\\{|\\}", "", grouped), ","))
    to <- c(sub("crate::", "", one), trimws(sub("::.*$", "", inner)))
    to <- setdiff(unique(to[nzchar(to)]), from)
    edges[[from]] <- unique(c(edges[[from]], to))
  }
  edges
}

# A loop in a graph, as a character vector of module names, or NULL.
find_loop <- function(edges) {
  state <- list()
  path <- character()
  visit <- function(node) {
    state[[node]] <<- "open"
    path <<- c(path, node)
    for (nxt in edges[[node]]) {
      if (is.null(edges[[nxt]]) && is.null(state[[nxt]])) next
      if (identical(state[[nxt]], "open")) return(c(path[which(path == nxt):length(path)], nxt))
      if (is.null(state[[nxt]])) {
        found <- visit(nxt)
        if (!is.null(found)) return(found)
      }
    }
    state[[node]] <<- "done"
    path <<- head(path, -1L)
    NULL
  }
  for (node in names(edges)) {
    if (is.null(state[[node]])) {
      found <- visit(node)
      if (!is.null(found)) return(found)
    }
  }
  NULL
}

test_that("the loop finder finds a loop and passes a chain", {
  expect_identical(find_loop(list(a = "b", b = "c", c = "a")), c("a", "b", "c", "a"))
  expect_null(find_loop(list(a = "b", b = "c", c = character())))
})

test_that("no module of any crate imports another in a loop", {
  for (crate in names(rust_crates())) {
    edges <- module_edges(rust_crates()[[crate]])
    expect_gt(length(edges), 3L)
    loop <- find_loop(edges)
    expect_null(loop, label = sprintf("%s: %s", crate, paste(loop, collapse = " -> ")))
  }
})

test_that("the server crate depends on no client code and no R", {
  dir <- rust_crates()[["cometr-server"]]
  manifest <- readLines(file.path(dir, "..", "Cargo.toml"))
  expect_false(any(grepl("^(cometr|cometr-core|extendr-api)\\s*=", manifest)))
  code <- unlist(lapply(list.files(dir, "[.]rs$", recursive = TRUE, full.names = TRUE), readLines))
  expect_false(any(grepl("cometr_core|extendr_api", code)))
})
