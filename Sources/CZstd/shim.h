/* The system libzstd (Debian's libzstd-dev), for zstd-compressed layers. No code of ours here. */
#include <zstd.h>
