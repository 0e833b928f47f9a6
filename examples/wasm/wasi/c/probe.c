// probe: the WASI behaviour probe, in C with wasi-libc. See ../README.md for
// its modes and their exact output; every toolchain's probe prints the same
// bytes for the same input.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

extern char **environ;

static int usage(void) {
	fputs("usage: probe args|env|exit N|stdout N|streams|clock|random|cat PATH|stdin|preopens\n", stderr);
	return 2;
}

static void put(FILE *f, const void *p, size_t n) {
	if (fwrite(p, 1, n, f) != n) {
		exit(1);
	}
}

static void put_u64(uint64_t v) {
	unsigned char b[8];
	for (int i = 0; i < 8; i++) {
		b[i] = (unsigned char)(v >> (8 * i));
	}
	put(stdout, b, 8);
}

static uint64_t now(__wasi_clockid_t id) {
	__wasi_timestamp_t t = 0;
	if (__wasi_clock_time_get(id, 1, &t) != 0) {
		exit(1);
	}
	return t;
}

// copy writes everything that can be read from in to stdout.
static int copy(FILE *in, const char *name) {
	static char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
		put(stdout, buf, n);
	}
	if (ferror(in)) {
		fprintf(stderr, "probe: reading %s: %s\n", name, strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		return usage();
	}
	const char *mode = argv[1];
	if (strcmp(mode, "args") == 0) {
		for (int i = 0; i < argc; i++) {
			put(stdout, argv[i], strlen(argv[i]) + 1);
		}
	} else if (strcmp(mode, "env") == 0) {
		for (char **e = environ; *e; e++) {
			put(stdout, *e, strlen(*e) + 1);
		}
	} else if (strcmp(mode, "exit") == 0 && argc == 3) {
		// The code goes to proc_exit as a u32, as wasi-libc's exit does.
		exit((int)strtoll(argv[2], NULL, 10));
	} else if (strcmp(mode, "stdout") == 0 && argc == 3) {
		long n = strtol(argv[2], NULL, 10);
		static unsigned char buf[4096];
		for (long i = 0; i < n;) {
			size_t k = 0;
			for (; k < sizeof buf && i < n; k++, i++) {
				buf[k] = (unsigned char)(i ^ (i >> 8));
			}
			put(stdout, buf, k);
		}
	} else if (strcmp(mode, "streams") == 0) {
		setvbuf(stdout, NULL, _IONBF, 0);
		put(stdout, "o1\n", 3);
		put(stderr, "e1\n", 3);
		put(stdout, "o2\r\n", 4);
		put(stderr, "e2 no newline", 13);
		put(stdout, "\0\xff\x1a", 3);
	} else if (strcmp(mode, "clock") == 0) {
		uint64_t real = now(__WASI_CLOCKID_REALTIME);
		uint64_t mono1 = now(__WASI_CLOCKID_MONOTONIC);
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
		uint64_t mono2 = now(__WASI_CLOCKID_MONOTONIC);
		put_u64(real);
		put_u64(mono1);
		put_u64(mono2);
	} else if (strcmp(mode, "random") == 0) {
		unsigned char b[32];
		if (getentropy(b, sizeof b) != 0) {
			perror("probe: getentropy");
			return 1;
		}
		put(stdout, b, sizeof b);
	} else if (strcmp(mode, "cat") == 0 && argc == 3) {
		FILE *f = fopen(argv[2], "rb");
		if (!f) {
			fprintf(stderr, "probe: opening %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		return copy(f, argv[2]);
	} else if (strcmp(mode, "stdin") == 0) {
		return copy(stdin, "stdin");
	} else if (strcmp(mode, "preopens") == 0) {
		for (__wasi_fd_t fd = 3;; fd++) {
			__wasi_prestat_t p;
			if (__wasi_fd_prestat_get(fd, &p) != 0) {
				break;
			}
			char name[4096];
			size_t n = p.u.dir.pr_name_len;
			if (n >= sizeof name || __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, n) != 0) {
				return 1;
			}
			put(stdout, name, n);
			put(stdout, "", 1);
		}
	} else {
		return usage();
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
