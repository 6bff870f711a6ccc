/*
 * my_open and read_fd the way UNIX Network Programming section 15.7 describes them:
 * socketpair, fork, exec the helper with "<sockfd#> <path> <mode>", waitpid, then read one byte
 * and the descriptor only when the helper exited with status 0. Written for the interop tests
 * and the benchmark; the helper path is a parameter instead of "./openfile".
 */
#include "unp_myopen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

ssize_t unp_read_fd(int socket_fd, void *buffer, size_t length, int *received_fd)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = { .iov_base = buffer, .iov_len = length };
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof control.space;

    ssize_t got = recvmsg(socket_fd, &message, 0);
    if (got <= 0)
        return got;
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    if (header != NULL && header->cmsg_len == CMSG_LEN(sizeof(int))
        && header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS)
        memcpy(received_fd, CMSG_DATA(header), sizeof(int));
    else
        *received_fd = -1;
    return got;
}

int unp_my_open(const char *helper, const char *path, int mode)
{
    int pair[2], status, fd = -1;
    char socket_arg[16], mode_arg[16], byte;

    if (socketpair(AF_LOCAL, SOCK_STREAM, 0, pair) < 0)
        return -1;
    pid_t child = fork();
    if (child < 0) {
        close(pair[0]);
        close(pair[1]);
        return -1;
    }
    if (child == 0) {
        close(pair[0]);
        snprintf(socket_arg, sizeof socket_arg, "%d", pair[1]);
        snprintf(mode_arg, sizeof mode_arg, "%d", mode);
        execl(helper, "openfile", socket_arg, path, mode_arg, (char *) NULL);
        _exit(127);
    }
    close(pair[1]);
    if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status)) {
        close(pair[0]);
        errno = EIO;
        return -1;
    }
    if ((status = WEXITSTATUS(status)) == 0) {
        if (unp_read_fd(pair[0], &byte, 1, &fd) <= 0 || fd < 0) {
            errno = EIO;
            fd = -1;
        }
    } else {
        errno = status;
    }
    close(pair[0]);
    return fd;
}
