#ifndef UNP_MYOPEN_H
#define UNP_MYOPEN_H
#include <stddef.h>
#include <sys/types.h>

/* Receives up to `length` bytes and at most one descriptor (-1 in *received_fd if none). */
ssize_t unp_read_fd(int socket_fd, void *buffer, size_t length, int *received_fd);

/* Opens `path` with open(2) `mode` through the helper program; -1 with errno set on failure. */
int unp_my_open(const char *helper, const char *path, int mode);

#endif
