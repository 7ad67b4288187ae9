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
#include <setjmp.h>

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

static SEXP say(void *msg) {
    SEXP call = PROTECT(Rf_lang2(Rf_install("message"), Rf_mkString((const char *) msg)));
    Rf_eval(call, R_BaseEnv);
    UNPROTECT(1);
    return R_NilValue;
}

static SEXP unwind_token = NULL;

static void stop_jump(void *buf, Rboolean jump) {
    if (jump) longjmp(*(jmp_buf *) buf, 1);
}

/* Tell the user what a long wait is for, as an ordinary R message: the caller's
 * handlers see it (suppressMessages() muffles it).  A handler that jumps away
 * (tryCatch(message = )) must not cross the Rust frames below, so the jump is held
 * here (R_UnwindProtect, then a long jump within these C frames) and 1 returned: the
 * wait is dropped, and R resumes the jump from R code (cometr_resume_jump). */
int cometr_notice(const char *msg) {
    if (unwind_token == NULL) {
        unwind_token = R_MakeUnwindCont();
        R_PreserveObject(unwind_token);
    }
    jmp_buf buf;
    if (setjmp(buf)) return 1;
    R_UnwindProtect(say, (void *) msg, stop_jump, &buf, unwind_token);
    return 0;
}

/* Resume the jump held by cometr_notice(), once no Rust frame is left. */
SEXP cometr_resume_jump(SEXP args) {
    if (unwind_token != NULL) R_ContinueUnwind(unwind_token);
    return R_NilValue;
}

void cometr_install_wait_hooks(void);

void register_extendr_panic_hook(void);
void R_init_cometr_extendr(void *dll);
SEXP cometr_log_metric(SEXP args);
SEXP cometr_resume_jump(SEXP args);

static const R_ExternalMethodDef external_routines[] = {
    {"cometr_log_metric", (DL_FUNC) &cometr_log_metric, 6},
    {"cometr_resume_jump", (DL_FUNC) &cometr_resume_jump, 0},
    {NULL, NULL, 0}
};

void R_init_cometr(DllInfo *dll) {
    register_extendr_panic_hook();
    cometr_install_wait_hooks();
    R_init_cometr_extendr(dll);
    R_registerRoutines(dll, NULL, NULL, NULL, external_routines);
    R_useDynamicSymbols(dll, FALSE);
}
