#define _GNU_SOURCE
#include "CCloakroomShims.h"
#include <sys/stat.h>

long cloakroom_fd_mode(int fd) {
    struct stat status;
    if (fstat(fd, &status) != 0) return -1;
    return (long)status.st_mode;
}
