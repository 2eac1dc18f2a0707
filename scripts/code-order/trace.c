// Records which functions of a program run, in the order they first run.
//
//   trace FUNCTIONS OUT -- PROGRAM [ARGS...]
//
// FUNCTIONS lists "hex-address name" per line (`nm --defined-only` of PROGRAM, text
// symbols only). trace starts PROGRAM under ptrace, puts a breakpoint on the first
// byte of every listed function, and removes each breakpoint the first time it is hit,
// so every function costs one trap and the program otherwise runs at full speed. When
// PROGRAM exits, the names of the functions that ran are written to OUT, one per line,
// first-run first. scripts/code-order.sh turns them into the linker's symbol order, so
// the code herald runs sits together and fewer pages of the binary become resident.
//
// Linux x86-64 only; PROGRAM must be a position-independent executable (the addresses
// are relative to its load address).
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

struct fn {
    uint64_t addr;     // runtime address, once the load address is known
    char *name;
    uint8_t original;  // the byte the breakpoint replaced
    int armed;
    int hit;
};

static struct fn *fns;
static size_t nfns;
static char **order;
static size_t norder;

static pid_t child;

// herald-bench and scripts stop PROGRAM by signalling this process: pass it on, and
// keep tracing until PROGRAM has exited so the order is still written.
static void forward(int sig) { kill(child, sig); }

static int by_addr(const void *a, const void *b) {
    uint64_t x = ((const struct fn *)a)->addr, y = ((const struct fn *)b)->addr;
    return x < y ? -1 : x > y;
}

static struct fn *find(uint64_t addr) {
    size_t lo = 0, hi = nfns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (fns[mid].addr < addr) lo = mid + 1;
        else hi = mid;
    }
    return lo < nfns && fns[lo].addr == addr ? &fns[lo] : NULL;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void load_functions(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) die(path);
    size_t cap = 1 << 14;
    fns = malloc(cap * sizeof *fns);
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char name[8000];
        unsigned long long addr;
        if (sscanf(line, "%llx %7999s", &addr, name) != 2) continue;
        if (nfns == cap) fns = realloc(fns, (cap *= 2) * sizeof *fns);
        fns[nfns++] = (struct fn){.addr = addr, .name = strdup(name)};
    }
    fclose(f);
    qsort(fns, nfns, sizeof *fns, by_addr);
    // Aliases share an address and a section; one breakpoint (and name) serves them.
    size_t kept = 0;
    for (size_t i = 0; i < nfns; i++)
        if (kept == 0 || fns[kept - 1].addr != fns[i].addr) fns[kept++] = fns[i];
    nfns = kept;
    order = malloc(nfns * sizeof *order);
}

// The address PROGRAM's first segment was loaded at: its mapping at file offset 0.
static uint64_t load_address(pid_t pid) {
    char path[64], exe[4096], line[8192];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    if (n < 0) die("readlink exe");
    exe[n] = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f) die("maps");
    uint64_t base = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long start, offset;
        char file[4096] = "";
        if (sscanf(line, "%llx-%*x %*s %llx %*s %*s %4095s", &start, &offset, file) >= 2 && offset == 0 &&
            strcmp(file, exe) == 0) {
            base = start;
            break;
        }
    }
    fclose(f);
    if (!base) {
        fprintf(stderr, "trace: %s is not mapped in the child\n", exe);
        exit(2);
    }
    return base;
}

static void poke_byte(pid_t pid, uint64_t addr, uint8_t byte, uint8_t *old) {
    errno = 0;
    long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)addr, 0);
    if (errno) die("PEEKTEXT");
    if (old) *old = (uint8_t)word;
    word = (word & ~0xffL) | byte;
    if (ptrace(PTRACE_POKETEXT, pid, (void *)addr, (void *)word) < 0) die("POKETEXT");
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: trace FUNCTIONS OUT -- PROGRAM [ARGS...]\n");
        return 2;
    }
    load_functions(argv[1]);
    child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execvp(argv[4], argv + 4);
        die(argv[4]);
    }
    int status;
    // The child stops with SIGTRAP once exec has mapped PROGRAM, before any of its code ran.
    if (waitpid(child, &status, 0) < 0 || !WIFSTOPPED(status)) die("exec stop");
    ptrace(PTRACE_SETOPTIONS, child, 0,
           (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC));
    uint64_t base = load_address(child);
    for (size_t i = 0; i < nfns; i++) {
        fns[i].addr += base;
        poke_byte(child, fns[i].addr, 0xcc, &fns[i].original);
        fns[i].armed = 1;
    }
    struct sigaction pass = {.sa_handler = forward};
    sigaction(SIGTERM, &pass, NULL);
    sigaction(SIGINT, &pass, NULL);
    ptrace(PTRACE_CONT, child, 0, 0);
    int exit_code = 0;
    for (;;) {
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid < 0) {
            if (errno == ECHILD) break;
            if (errno == EINTR) continue;
            die("waitpid");
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (pid == child) exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            continue;
        }
        if (!WIFSTOPPED(status)) continue;
        int sig = WSTOPSIG(status);
        int deliver = 0;
        if (status >> 16) {
            // A clone or exec event: the new thread is traced too (it starts with SIGSTOP).
        } else if (sig == SIGTRAP) {
            struct user_regs_struct regs;
            if (ptrace(PTRACE_GETREGS, pid, 0, &regs) == 0) {
                struct fn *f = find(regs.rip - 1);
                if (f) {
                    if (!f->hit) {
                        f->hit = 1;
                        order[norder++] = f->name;
                    }
                    // Another thread may already have removed it; either way the
                    // instruction is whole again and runs from its start.
                    if (f->armed) {
                        poke_byte(pid, f->addr, f->original, NULL);
                        f->armed = 0;
                    }
                    regs.rip -= 1;
                    ptrace(PTRACE_SETREGS, pid, 0, &regs);
                }
            }
        } else if (sig != SIGSTOP) {
            deliver = sig;
        }
        ptrace(PTRACE_CONT, pid, 0, (void *)(long)deliver);
    }
    FILE *out = fopen(argv[2], "w");
    if (!out) die(argv[2]);
    for (size_t i = 0; i < norder; i++) fprintf(out, "%s\n", order[i]);
    fclose(out);
    fprintf(stderr, "trace: %zu of %zu functions ran\n", norder, nfns);
    return exit_code;
}
