#ifndef CCLOAKROOM_SHIMS_H
#define CCLOAKROOM_SHIMS_H
#include <stddef.h>

/// Bytes of heap allocated and not yet freed (glibc mallinfo2: uordblks + hblkhd); 0 elsewhere.
size_t cloakroom_heap_in_use(void);

#endif
