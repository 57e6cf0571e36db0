// pause: holds a sandbox's namespaces open until told to stop.
//
// It usually runs as PID 1 of its PID namespace, where the kernel ignores any signal that has
// no handler installed, so SIGTERM/SIGINT get real handlers. As PID 1 it also inherits every
// orphan in the namespace, so SIGCHLD reaps them all. Built static: it runs in an empty rootfs.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_STOPPED 0
#define EXIT_SETUP_FAILED 1
#define VERSION "berth-pause 1"

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

// Reaping happens in the main loop; the handler only has to exist so that SIGCHLD interrupts
// sigsuspend (its default disposition is "ignore", which would not wake us).
static void on_child(int sig) { (void)sig; }

static void reap_children(void) {
  for (;;) {
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid > 0) continue;
    if (pid < 0 && errno == EINTR) continue;
    return;
  }
}

static int install(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
  sigfillset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) != 0) {
    fprintf(stderr, "pause: sigaction(%s): %s\n", strsignal(sig), strerror(errno));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
    puts(VERSION);
    return EXIT_STOPPED;
  }

  // Keep the signals blocked except inside sigsuspend, so one arriving between the checks
  // below and the wait is not lost.
  sigset_t watched, waiting;
  sigemptyset(&watched);
  sigaddset(&watched, SIGTERM);
  sigaddset(&watched, SIGINT);
  sigaddset(&watched, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &watched, &waiting) != 0) {
    fprintf(stderr, "pause: sigprocmask: %s\n", strerror(errno));
    return EXIT_SETUP_FAILED;
  }
  sigdelset(&waiting, SIGTERM);
  sigdelset(&waiting, SIGINT);
  sigdelset(&waiting, SIGCHLD);

  if (install(SIGTERM, on_stop) != 0 || install(SIGINT, on_stop) != 0 || install(SIGCHLD, on_child) != 0) {
    return EXIT_SETUP_FAILED;
  }

  // Children may predate us (exec'd into an existing process) and already be zombies.
  reap_children();
  while (stop_signal == 0) {
    sigsuspend(&waiting);
    reap_children();
  }
  return EXIT_STOPPED;
}
