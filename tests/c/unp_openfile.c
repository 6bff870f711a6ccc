/*
 * The book's openfile helper: "openfile <sockfd#> <pathname> <mode>". Opens the path and passes
 * the descriptor back with one (NUL) data byte; on failure it sends nothing and exits with errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t write_fd(int socket_fd, void *data, size_t length, int fd_to_send)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = { .iov_base = data, .iov_len = length };
    struct msghdr message;
    memset(&message, 0, sizeof message);
    memset(&control, 0, sizeof control);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof control.space;
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_len = CMSG_LEN(sizeof(int));
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    memcpy(CMSG_DATA(header), &fd_to_send, sizeof(int));
    return sendmsg(socket_fd, &message, 0);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "openfile <sockfd#> <filename> <mode>\n");
        return 1;
    }
    int fd = open(argv[2], atoi(argv[3]));
    if (fd < 0)
        exit(errno > 0 ? errno : 255);
    if (write_fd(atoi(argv[1]), "", 1, fd) < 0)
        exit(errno > 0 ? errno : 255);
    exit(0);
}
