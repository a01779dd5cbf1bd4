/* tests/tools/sanfirst.c — sanfirst.so: initialises the sanitizer runtime
 * before any other object's constructor runs.
 *
 *   LD_PRELOAD="libasan.so sanfirst.so libtlsshim.so" program
 *
 * The dynamic loader runs the constructors of the program's dependencies
 * before those of the preloaded objects.  A dependency's constructor that
 * calls a function the library wraps (libcap-ng's opens
 * /proc/sys/kernel/cap_last_cap: vsftpd) then runs the library's
 * instrumented code before the runtime has initialised, unless something
 * called malloc (intercepted: it initialises the runtime) before: the
 * instrumented code writes to shadow memory that is not mapped yet, and
 * the program dies of SIGSEGV before main().  Linked with -z initfirst
 * (DF_1_INITFIRST), this object's constructor runs before every other
 * object's and initialises the runtime (__asan_init may be called any
 * number of times).  Weak references: loaded without the runtime it does
 * nothing.  Never instrumented itself (tests/tools are built without
 * sanitizer flags); only tests/run.sh's ASan builds preload it.
 */
extern void __asan_init(void) __attribute__((weak));

__attribute__((constructor)) static void sanfirst(void)
{
	if (__asan_init)
		__asan_init();
}
