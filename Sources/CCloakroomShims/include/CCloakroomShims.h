#ifndef CCLOAKROOM_SHIMS_H
#define CCLOAKROOM_SHIMS_H
#include <stddef.h>

/// Bytes of heap allocated and not yet freed (glibc mallinfo2: uordblks + hblkhd); 0 elsewhere.
size_t cloakroom_heap_in_use(void);

/// The st_mode of an open file descriptor (type and permission bits), or -1 with errno set.
long cloakroom_fd_mode(int fd);

#endif
