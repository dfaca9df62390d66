#ifndef CCLOAKROOM_SHIMS_H
#define CCLOAKROOM_SHIMS_H
#include <stddef.h>

/// The st_mode of an open file descriptor (type and permission bits), or -1 with errno set.
long cloakroom_fd_mode(int fd);

#endif
