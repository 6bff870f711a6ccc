/*
 * The book's mycat: usage "unp_mycat <helper> <pathname>". Copies the file to standard output,
 * or prints "errno N" to standard error and exits 1 when my_open fails.
 */
#include "unp_myopen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char buffer[8192];
    ssize_t got;

    if (argc != 3) {
        fprintf(stderr, "usage: unp_mycat <helper> <pathname>\n");
        return 2;
    }
    int fd = unp_my_open(argv[1], argv[2], O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "errno %d\n", errno);
        return 1;
    }
    while ((got = read(fd, buffer, sizeof buffer)) > 0)
        if (write(STDOUT_FILENO, buffer, (size_t) got) != got)
            return 1;
    return got < 0 ? 1 : 0;
}
