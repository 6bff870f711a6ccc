/*
 * mycat: UNIX Network Programming, Figure 15.9, against libmyopen instead of the book's
 * myopen.c and read_fd.c. Build and run:
 *
 *     cc -o mycat mycat.c $(pkg-config --cflags --libs myopen)
 *     ./mycat /var/log/auth.log
 *
 * The book's err_quit, err_sys, Read and Writen are written out with stdio, as the book's
 * wrappers print them: "cannot open PATH: <strerror>" and exit status 1.
 */
#include <myopen.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUFFSIZE 8192

static void err_sys(const char *what, const char *path)
{
    fprintf(stderr, "%s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    int fd;
    ssize_t n;
    char buff[BUFFSIZE];

    if (argc != 2) {
        fprintf(stderr, "usage: mycat <pathname>\n");
        exit(1);
    }
    if ((fd = my_open(argv[1], O_RDONLY)) < 0)
        err_sys("cannot open", argv[1]);

    while ((n = read(fd, buff, BUFFSIZE)) > 0) {
        ssize_t written = 0;
        while (written < n) {
            ssize_t w = write(STDOUT_FILENO, buff + written, (size_t) (n - written));
            if (w < 0)
                err_sys("write error on", "standard output");
            written += w;
        }
    }
    if (n < 0)
        err_sys("read error on", argv[1]);
    exit(0);
}
