/* error.h — the one line an operation failed with ("what: why; what to do").
 * Modules record it and return a negative errno; only the CLI prints it. */
#ifndef SNAPBAKE_ERROR_H
#define SNAPBAKE_ERROR_H

struct bake_error {
	char text[1536];
};

/* Records "<formatted>: <strerror(-negerrno)>" unless an error is already
 * recorded (the first, most precise one wins). Returns negerrno. */
int bake_fail(struct bake_error *err, int negerrno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the formatted text as it is (it says why itself). Returns negerrno. */
int bake_fail_why(struct bake_error *err, int negerrno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
