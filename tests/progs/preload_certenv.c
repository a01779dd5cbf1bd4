/* preload_certenv.so — a library whose constructor runs before the
 * shim's (listed after it in LD_PRELOAD: the C library initialises the
 * preloaded libraries last to first) and sets the variables
 * PRELOAD_CERTENV_SET names ("NAME=VALUE;NAME=VALUE", overwriting, as a
 * program's own library may: SSL_CERT_FILE to a bundle of its own), or
 * unsets NAME for a word "-NAME".  The shim must take the system store's
 * SSL_CERT_FILE and SSL_CERT_DIR as the process was started with them,
 * not as this constructor left them (tests/preload/systore.sh).
 */
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void certenv(void)
{
	const char *set = getenv("PRELOAD_CERTENV_SET");
	char *copy, *save = NULL;

	if (!set || !(copy = strdup(set)))
		return;
	for (char *w = strtok_r(copy, ";", &save); w; w = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(w, '=');

		if (w[0] == '-') {
			unsetenv(w + 1);
		} else if (eq) {
			*eq = '\0';
			setenv(w, eq + 1, 1);
		}
	}
	free(copy);
}
