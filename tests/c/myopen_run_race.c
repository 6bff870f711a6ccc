/* A hostile COMMAND for the myopen-run race test: one thread keeps rewriting the path buffer
 * between two paths of the same length (so that a torn read is one more possibility) while the
 * main thread opens whatever the buffer says. Prints every distinct content it managed to read
 * and the counts, so the test can check that nothing outside the policy was ever read.
 *
 *   myopen_run_race PATH_A PATH_B ROUNDS
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[4096];
static const char *paths[2];
static size_t length;
static atomic_int stop;

static void *flip(void *unused) {
    (void)unused;
    for (unsigned long round = 0; !atomic_load(&stop); round++) {
        /* Byte by byte, so the buffer is often a mix of both paths. */
        const char *source = paths[round & 1];
        for (size_t i = 0; i < length; i++)
            ((volatile char *)path)[i] = source[i];
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4 || strlen(argv[1]) != strlen(argv[2]) || strlen(argv[1]) >= sizeof path) {
        fprintf(stderr, "usage: %s PATH_A PATH_B ROUNDS (paths of equal length)\n", argv[0]);
        return 2;
    }
    paths[0] = argv[1];
    paths[1] = argv[2];
    length = strlen(argv[1]);
    memcpy(path, argv[1], length + 1);
    int rounds = atoi(argv[3]);
    pthread_t flipper;
    if (pthread_create(&flipper, NULL, flip, NULL) != 0)
        return 2;
    int opened = 0, refused = 0, other = 0;
    char seen[8][256];
    int distinct = 0;
    for (int round = 0; round < rounds; round++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == EACCES)
                refused++;
            else
                other++;
            continue;
        }
        opened++;
        char content[256] = {0};
        ssize_t got = read(fd, content, sizeof content - 1);
        close(fd);
        if (got < 0)
            continue;
        int known = 0;
        for (int i = 0; i < distinct; i++)
            known |= strcmp(seen[i], content) == 0;
        if (!known && distinct < 8) {
            strcpy(seen[distinct++], content);
            printf("read: %s", content);
        }
    }
    atomic_store(&stop, 1);
    pthread_join(flipper, NULL);
    printf("opened=%d refused=%d other=%d\n", opened, refused, other);
    return 0;
}
