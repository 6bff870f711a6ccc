/*
 * libmyopen's session API from many threads: "capi_session <allowed> <denied> <threads> <opens>".
 * One session; each thread opens <allowed> opens/threads times, reads it back and checks the
 * content and FD_CLOEXEC, and closes it; <denied> must fail with EACCES. Afterwards the process
 * holds exactly the descriptors it held before the session, and once the session is freed no
 * child (helper) is left, not even a zombie. Also the argument checks: NULL session (EINVAL),
 * NULL path (EFAULT), myopen_session_free(NULL). Prints what went wrong and exits 1, or exits 0.
 */
#include <myopen.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct myopen_session *session;
static const char *allowed;
static const char *denied;
static char expected[4096];
static ssize_t expected_length;
static long opens_per_thread;

static int open_descriptors(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *entry;
    int count = 0;

    if (dir == NULL)
        return -1;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            count++;
    closedir(dir);
    return count - 1; /* the directory's own descriptor */
}

static void *worker(void *unused)
{
    char buffer[sizeof expected];
    long i;

    (void) unused;
    for (i = 0; i < opens_per_thread; i++) {
        int fd = myopen_session_open(session, allowed, O_RDONLY, 0);
        if (fd < 0) {
            fprintf(stderr, "open %ld of %s: %s\n", i, allowed, strerror(errno));
            return (void *) 1;
        }
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC)) {
            fprintf(stderr, "descriptor %d without FD_CLOEXEC\n", fd);
            return (void *) 1;
        }
        ssize_t got = pread(fd, buffer, sizeof buffer, 0);
        close(fd);
        if (got != expected_length || memcmp(buffer, expected, (size_t) got) != 0) {
            fprintf(stderr, "open %ld of %s read %zd bytes, not the file\n", i, allowed, got);
            return (void *) 1;
        }
        if (i % 100 == 0) {
            errno = 0;
            if (myopen_session_open(session, denied, O_RDONLY, 0) != -1 || errno != EACCES) {
                fprintf(stderr, "%s: expected EACCES, got %s\n", denied, strerror(errno));
                return (void *) 1;
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: capi_session <allowed> <denied> <threads> <opens>\n");
        return 2;
    }
    allowed = argv[1];
    denied = argv[2];
    int threads = atoi(argv[3]);
    long opens = atol(argv[4]);
    pthread_t ids[64];
    int failed = 0, i;

    if (threads < 1 || threads > 64 || opens % threads != 0) {
        fprintf(stderr, "1..64 threads, opens a multiple of threads\n");
        return 2;
    }
    opens_per_thread = opens / threads;

    errno = 0;
    if (myopen_session_open(NULL, allowed, O_RDONLY, 0) != -1 || errno != EINVAL) {
        fprintf(stderr, "NULL session: expected EINVAL, got %s\n", strerror(errno));
        return 1;
    }
    errno = 0;
    if (my_open(NULL, O_RDONLY) != -1 || errno != EFAULT) {
        fprintf(stderr, "my_open(NULL): expected EFAULT, got %s\n", strerror(errno));
        return 1;
    }
    myopen_session_free(NULL);

    int before = open_descriptors();
    session = myopen_session_new();
    if (session == NULL) {
        fprintf(stderr, "myopen_session_new: %s\n", strerror(errno));
        return 1;
    }
    errno = 0;
    if (myopen_session_open(session, NULL, O_RDONLY, 0) != -1 || errno != EFAULT) {
        fprintf(stderr, "NULL path: expected EFAULT, got %s\n", strerror(errno));
        return 1;
    }
    /* The expected content, read through the session itself (the caller cannot read it). */
    int fd = myopen_session_open(session, allowed, O_RDONLY, 0);
    if (fd < 0 || (expected_length = read(fd, expected, sizeof expected)) <= 0) {
        fprintf(stderr, "first open of %s: %s\n", allowed, strerror(errno));
        return 1;
    }
    close(fd);
    int with_session = open_descriptors();

    for (i = 0; i < threads; i++)
        if (pthread_create(&ids[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    for (i = 0; i < threads; i++) {
        void *result;
        pthread_join(ids[i], &result);
        failed |= result != NULL;
    }
    int after = open_descriptors();
    if (after != with_session) {
        fprintf(stderr, "descriptors: %d with the session, %d after %ld opens\n", with_session,
                after, opens);
        failed = 1;
    }
    myopen_session_free(session);
    if (open_descriptors() != before) {
        fprintf(stderr, "descriptors: %d before the session, %d after freeing it\n", before,
                open_descriptors());
        failed = 1;
    }
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
        fprintf(stderr, "a child is left after myopen_session_free\n");
        failed = 1;
    }
    if (!failed)
        printf("%ld opens from %d threads\n", opens, threads);
    return failed;
}
