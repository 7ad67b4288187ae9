/* R calls R_init_cometr() when it loads the shared library.  The Rust side
 * (extendr_module!) defines R_init_cometr_extendr(), which registers the .Call
 * routines; referencing it here also keeps the linker from dropping the Rust
 * static library.  register_extendr_panic_hook() keeps the default Rust panic
 * report off the console for every error returned to R (EXTENDR_BACKTRACE=1
 * shows it again when debugging).
 *
 * exp$log_metric() runs once per point in a training loop, so it has its own
 * .External routine that reads R's values directly
 * (src/rust/src/experiment/log_metric.rs) instead of paying for extendr's
 * argument conversion.  It is registered in a
 * second call that passes only the .External table: R replaces only the tables
 * it is given, so extendr's .Call table stays as it was. */
#include <R.h>
#include <Rinternals.h>
#include <R_ext/Rdynload.h>
#include <R_ext/GraphicsEngine.h> /* R_interrupts_pending */

/* The client's blocking waits (src/rust/core/src/http.rs) run on R's main thread in
 * short slices; between slices they ask here whether the user pressed Ctrl-C.  The
 * request is taken (not acted on here, where a long jump would cross Rust frames):
 * the Rust side drops what it was waiting for and returns, and R raises its ordinary
 * interrupt condition (rust_result() in R/utils-conditions.R). */
int cometr_take_interrupt(void) {
    if (R_interrupts_pending) {
        R_interrupts_pending = 0;
        return 1;
    }
    return 0;
}

static void say(void *msg) {
    SEXP call = PROTECT(Rf_lang2(Rf_install("message"), Rf_mkString((const char *) msg)));
    Rf_eval(call, R_BaseEnv);
    UNPROTECT(1);
}

/* Tell the user what a long wait is for, as an R message.  R_ToplevelExec keeps any
 * jump (an error in a handler) from crossing the Rust frames below. */
void cometr_notice(const char *msg) {
    R_ToplevelExec(say, (void *) msg);
}

void cometr_install_wait_hooks(void);

void register_extendr_panic_hook(void);
void R_init_cometr_extendr(void *dll);
SEXP cometr_log_metric(SEXP args);

static const R_ExternalMethodDef external_routines[] = {
    {"cometr_log_metric", (DL_FUNC) &cometr_log_metric, 6},
    {NULL, NULL, 0}
};

void R_init_cometr(DllInfo *dll) {
    register_extendr_panic_hook();
    cometr_install_wait_hooks();
    R_init_cometr_extendr(dll);
    R_registerRoutines(dll, NULL, NULL, NULL, external_routines);
    R_useDynamicSymbols(dll, FALSE);
}
