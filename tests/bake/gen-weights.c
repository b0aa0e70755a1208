/* gen-weights.c — writes BYTES of weight-like data to stdout: float32 values
 * drawn from N(0, 0.02) with a fixed seed, so every run writes the same bytes.
 * It is test and benchmark input only; never part of snapbake itself. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t next(uint64_t *s)
{
	/* xorshift64*: fast, and plenty for filler data. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

int main(int argc, char **argv)
{
	static float buf[1 << 18];
	unsigned long long left;
	uint64_t state;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: gen-weights BYTES [SEED] > FILE\n");
		return 2;
	}
	left = strtoull(argv[1], NULL, 0);
	state = argc == 3 ? strtoull(argv[2], NULL, 0) * 0x9E3779B97F4A7C15ull + 1 : 0x1234567ull;
	while (left) {
		size_t n = sizeof(buf) < left ? sizeof(buf) : (size_t)left;

		for (size_t i = 0; i + 1 < sizeof(buf) / sizeof(buf[0]); i += 2) {
			/* Box-Muller: two normal values from two uniform ones. */
			double u1 = ((double)(next(&state) >> 11) + 1.0) / 9007199254740993.0;
			double u2 = (double)(next(&state) >> 11) / 9007199254740992.0;
			double r = sqrt(-2.0 * log(u1)) * 0.02;

			buf[i] = (float)(r * cos(2 * M_PI * u2));
			buf[i + 1] = (float)(r * sin(2 * M_PI * u2));
		}
		for (size_t off = 0; off < n;) {
			ssize_t w = write(STDOUT_FILENO, (char *)buf + off, n - off);

			if (w <= 0) {
				perror("gen-weights");
				return 1;
			}
			off += (size_t)w;
		}
		left -= n;
	}
	return 0;
}
