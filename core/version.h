/* core/version.h — the version of tlsshim: the launcher's --version and
 * the library's marker (shim/init.c: tlsshim_library_version). */
#ifndef TLSSHIM_CORE_VERSION_H
#define TLSSHIM_CORE_VERSION_H

#define TLSSHIM_VERSION "0.1.0"

#endif
