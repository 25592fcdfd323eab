/* SPDX-License-Identifier: MIT */
/*
 * src/daemon/www.h - the web page (src/daemon/www/index.html), built into
 * the daemon by tools/embed.py (src/daemon/meson.build): its bytes, NUL-
 * terminated, and their number without the NUL.
 */
#ifndef RKVD_WWW_H
#define RKVD_WWW_H

#include <stddef.h>

extern const unsigned char rkvd_index_html[];
extern const size_t rkvd_index_html_len;

#endif
