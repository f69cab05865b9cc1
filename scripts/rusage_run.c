/* rusage_run OUT CMD [ARGS...]: runs CMD as our child and writes its peak RSS (KiB), user and system CPU seconds to
 * OUT, from wait4; exits with CMD's status (128+signal if killed). The benchmark scripts run clients through this
 * small launcher, not straight from Python: a child keeps the peak RSS of the process it was forked from (Linux
 * carries it over exec), so a client forked from Python would report at least Python's RSS. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

/* Passed on, so that stopping a benchmark script stops the client it was measuring too. */
static void forward(int sig) {
    if (child > 0) kill(child, sig);
}

int main(int argc, char **argv) {
    if (argc < 3) return 127;
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) { execvp(argv[2], argv + 2); _exit(127); }
    child = pid;
    struct sigaction sa = {0};
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int st; struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0) {
        if (errno != EINTR) return 127;
    }
    FILE *f = fopen(argv[1], "w");
    if (!f) return 127;
    fprintf(f, "%ld %ld.%06ld %ld.%06ld\n", ru.ru_maxrss, (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
            (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
    fclose(f);
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}
