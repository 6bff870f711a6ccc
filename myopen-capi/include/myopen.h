/*
 * myopen.h: open files through the privileged, policy-checking helper openfile-helper and
 * receive the open descriptor (UNIX Network Programming, section 15.7). See my_open(3).
 *
 *     cc prog.c $(pkg-config --cflags --libs myopen)
 *
 * Every function returning a descriptor returns a new descriptor with FD_CLOEXEC set, or -1
 * with errno set: the errno the helper (or open(2) in it) reported, EACCES when the policy
 * refuses, or one of the two errnos below when the helper itself failed. No function of this
 * library sets a signal handler or changes SIGCHLD. The helper is a child process: during a
 * my_open call, and for the life of a session (so wait(-1) also waits for it); none is left
 * once my_open returns or the session is freed.
 */
#ifndef MYOPEN_H
#define MYOPEN_H

#include <errno.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* errno when openfile-helper is not installed or cannot be run (ENOPKG, "Package not installed"). */
#define MYOPEN_EHELPER_MISSING ENOPKG
/* errno when the helper crashed or broke the protocol (EPROTO, "Protocol error"). */
#define MYOPEN_EHELPER_BROKEN EPROTO

/*
 * Opens pathname with open(2) flags through one run of the helper, as the book's my_open. A file
 * it creates (O_CREAT) gets mode 0666 less the umask; use my_open_mode to choose.
 */
int my_open(const char *pathname, int flags);

/* my_open with the permission bits for a file that O_CREAT creates (less the umask). */
int my_open_mode(const char *pathname, int flags, mode_t mode);

/*
 * A session: one persistent helper serving many opens, about 25 times cheaper per open than
 * my_open. Safe to use from many threads at once. After fork(2) the child gets a helper of its
 * own on its first open.
 */
struct myopen_session;

/* Starts a session (and its helper, now); NULL with errno set on failure. */
struct myopen_session *myopen_session_new(void);

/* Opens pathname through session, creating with mode under O_CREAT; as my_open otherwise. */
int myopen_session_open(struct myopen_session *session, const char *pathname, int flags,
                        mode_t mode);

/* Ends the session and reaps its helper. NULL is ignored. */
void myopen_session_free(struct myopen_session *session);

#ifdef __cplusplus
}
#endif

#endif /* MYOPEN_H */
