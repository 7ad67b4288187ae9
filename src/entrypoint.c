/* R calls R_init_cometr() when it loads the shared library.  The Rust side
 * (extendr_module!) defines R_init_cometr_extendr(), which registers the .Call
 * routines; referencing it here also keeps the linker from dropping the Rust
 * static library.  register_extendr_panic_hook() keeps the default Rust panic
 * report off the console for every error returned to R (EXTENDR_BACKTRACE=1
 * shows it again when debugging). */
void register_extendr_panic_hook(void);
void R_init_cometr_extendr(void *dll);

void R_init_cometr(void *dll) {
    register_extendr_panic_hook();
    R_init_cometr_extendr(dll);
}
