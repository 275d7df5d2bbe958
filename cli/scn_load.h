/* scn_load: reads a scenario file and parses it (the I/O half of scn_parse, which is pure).
 * Used by every command that takes a scenario (run, run --dry-run, check). */
#ifndef ALLOCSIM_SCN_LOAD_H
#define ALLOCSIM_SCN_LOAD_H

#include <stddef.h>

#include "scn.h"

#define SCN_LOAD_MAX_BYTES (64u << 20) /* larger files are refused rather than slurped */

/* Reads path and parses it. Returns 0 and *out (free with scn_script_free), or -1 with a
 * message in err: "path: cannot read: <reason>" or the parser's "path:line:col: ...". */
int scn_load_file(const char *path, scn_script **out, char *err, size_t errlen);

#endif
