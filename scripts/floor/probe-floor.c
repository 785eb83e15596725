/*
 * The floor for bench:probes: the least a probe can cost on this machine, as a minimal native loop.
 * One attempt at a time, back to back, against host:port (IPv4 literal):
 *   tcp:  socket(non-blocking) + connect + poll(POLLOUT) + SO_ERROR + SO_LINGER 0 + close (RST);
 *   http: the same connect, then write the request given in argv, poll/read until the response is
 *         complete (head + Content-Length body, or EOF), then the RST close.
 * No allocation, no parsing beyond finding the head's end and Content-Length: the kernel's work for
 * the connection plus the least user-space work a probe can do. CPU time is getrusage(RUSAGE_SELF)
 * taken around the loop only (not process start-up). Prints one JSON line.
 * With --rate R (bench:blackbox), the loop is paced as scripts/lib/rate.ts paces a prober: every
 * 10 ms tick starts the probes owed so far (elapsed × R), one after the other, then sleeps until the
 * next tick — the floor of a prober that waits between probes (one wake-up per tick, cold caches).
 * HOST may be a comma-separated list of IPv4 literals, probed round-robin.
 *
 *   probe-floor [--rate R] tcp|http HOST[,HOST…] PORT COUNT [REQUEST]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long usec(struct timeval tv) { return (long long)tv.tv_sec * 1000000LL + tv.tv_usec; }

static int wait_for(int fd, short events) {
  struct pollfd p = {.fd = fd, .events = events};
  int r = poll(&p, 1, 1000);
  return r == 1 ? 0 : -1;
}

static void rst_close(int fd) {
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

/* Reads one response; 0 when it is complete and its status is 2xx. */
static int read_response(int fd) {
  static char buf[16384];
  size_t have = 0;
  long body_left = -2; /* -2: head not complete yet; -1: body runs to EOF; else bytes still due */
  int good_status = 0;
  for (;;) {
    if (wait_for(fd, POLLIN) < 0) return -1;
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n < 0 && errno == EAGAIN) continue;
    if (n <= 0) return n == 0 && body_left == -1 && good_status ? 0 : -1;
    if (body_left >= 0 || body_left == -1) {
      if (body_left >= 0 && (body_left -= n) <= 0) return good_status ? 0 : -1;
      continue;
    }
    have += (size_t)n;
    char *end = memmem(buf, have, "\r\n\r\n", 4);
    if (!end) {
      if (have == sizeof buf) return -1;
      continue;
    }
    good_status = have > 12 && buf[9] == '2';
    char *cl = memmem(buf, (size_t)(end - buf), "\r\nContent-Length:", 17);
    if (!cl) cl = memmem(buf, (size_t)(end - buf), "\r\ncontent-length:", 17);
    if (!cl) {
      body_left = -1;
      continue;
    }
    body_left = strtol(cl + 17, NULL, 10) - (long)(have - (size_t)(end - buf) - 4);
    if (body_left <= 0) return good_status ? 0 : -1;
  }
}

#define MAX_HOSTS 4096
#define TICK_NS 10000000LL

static long long nsec(struct timespec t) { return (long long)t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(int argc, char **argv) {
  double rate = 0;
  if (argc > 2 && strcmp(argv[1], "--rate") == 0) {
    rate = atof(argv[2]);
    argc -= 2;
    argv += 2;
  }
  if (argc < 5 || (strcmp(argv[1], "tcp") != 0 && strcmp(argv[1], "http") != 0)) {
    fprintf(stderr, "usage: probe-floor [--rate R] tcp|http HOST[,HOST...] PORT COUNT [REQUEST]\n");
    return 2;
  }
  int http = strcmp(argv[1], "http") == 0;
  const char *request = argc > 5 ? argv[5] : "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  size_t request_len = strlen(request);
  static struct sockaddr_in addrs[MAX_HOSTS];
  int nhosts = 0;
  unsigned short port = htons((unsigned short)atoi(argv[3]));
  for (char *h = strtok(argv[2], ","); h != NULL && nhosts < MAX_HOSTS; h = strtok(NULL, ",")) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = port};
    if (inet_pton(AF_INET, h, &a.sin_addr) != 1) {
      fprintf(stderr, "probe-floor: %s is not an IPv4 literal\n", h);
      return 2;
    }
    addrs[nhosts++] = a;
  }
  if (nhosts == 0) {
    fprintf(stderr, "probe-floor: no host\n");
    return 2;
  }
  long count = atol(argv[4]);
  long ok = 0, failed = 0;
  struct rusage r0, r1;
  struct timespec w0, w1;
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &w0);
  long long next_tick = nsec(w0);
  for (long i = 0; i < count; i++) {
    if (rate > 0) {
      /* Paced: probe i starts once i / rate seconds have passed, checked once per tick. */
      for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(nsec(now) - nsec(w0)) / 1e9 * rate >= (double)(i + 1)) break;
        next_tick += TICK_NS;
        struct timespec until = {.tv_sec = next_tick / 1000000000LL, .tv_nsec = next_tick % 1000000000LL};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
      }
    }
    struct sockaddr_in addr = addrs[i % nhosts];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      failed++;
      continue;
    }
    int good = 0;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 || errno == EINPROGRESS) {
      int err = 0;
      socklen_t len = sizeof err;
      if (wait_for(fd, POLLOUT) == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        good = !http || (write(fd, request, request_len) == (ssize_t)request_len && read_response(fd) == 0);
      }
    }
    rst_close(fd);
    if (good) ok++;
    else failed++;
  }
  clock_gettime(CLOCK_MONOTONIC, &w1);
  getrusage(RUSAGE_SELF, &r1);
  printf("{\"probes\":%ld,\"ok\":%ld,\"failed\":%ld,\"userUs\":%lld,\"sysUs\":%lld,\"wallS\":%.6f}\n", count, ok,
         failed, usec(r1.ru_utime) - usec(r0.ru_utime), usec(r1.ru_stime) - usec(r0.ru_stime),
         (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) / 1e9);
  return 0;
}
