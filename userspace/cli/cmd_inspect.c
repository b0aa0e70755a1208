/* cmd_inspect.c — snapctl inspect DIR: what a snapshot holds, as a table
 * or --json. Reads through the validating reader; never trusts the file. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cli.h"
#include "ctx.h"
#include "image.h"

static const char *vma_kind(uint32_t kind)
{
	switch (kind) {
	case SNAP_VMA_ANON: return "anon";
	case SNAP_VMA_FILE: return "file";
	case SNAP_VMA_VDSO: return "vdso";
	case SNAP_VMA_VVAR: return "vvar";
	case SNAP_VMA_SHARED_FILE: return "shared";
	case SNAP_VMA_SHMEM: return "shmem";
	default: return "?";
	}
}

static const char *fd_kind(uint32_t kind)
{
	switch (kind) {
	case SNAP_FD_FILE: return "file";
	case SNAP_FD_STDIO: return "stdio";
	case SNAP_FD_DEVICE: return "device";
	case SNAP_FD_PIPE: return "pipe";
	case SNAP_FD_EVENTFD: return "eventfd";
	case SNAP_FD_SIGNALFD: return "signalfd";
	case SNAP_FD_TIMERFD: return "timerfd";
	case SNAP_FD_EPOLL: return "epoll";
	case SNAP_FD_MEMFD: return "memfd";
	case SNAP_FD_READY: return "ready";
	default: return "?";
	}
}

static void prot_string(uint32_t prot, char out[4])
{
	out[0] = prot & PROT_READ ? 'r' : '-';
	out[1] = prot & PROT_WRITE ? 'w' : '-';
	out[2] = prot & PROT_EXEC ? 'x' : '-';
	out[3] = '\0';
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	struct snap_image img;
	uint64_t *mem, *stored, total_virtual = 0, total_mem = 0, total_stored = 0;
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "jvh")) != -1)
		if (c == 'h') {
			puts("usage: snapctl inspect DIR [--json]");
			return 0;
		}
	if (optind != argc - 1)
		return cli_usage(cli, "inspect takes one snapshot directory");
	if (snap_image_load(cli->ctx, argv[optind], &img) < 0)
		return cli_fail_engine(cli);

	mem = calloc(img.nr_vmas + 1, sizeof(uint64_t));
	stored = calloc(img.nr_vmas + 1, sizeof(uint64_t));
	if (!mem || !stored) {
		free(mem);
		free(stored);
		snap_image_release(&img);
		return cli_fail(cli, "out of memory");
	}
	for (uint32_t i = 0, v = 0; i < img.nr_chunks; i++) {
		while (v < img.nr_vmas && img.vmas[v].end <= img.chunks[i].vaddr)
			v++;
		mem[v] += (uint64_t)img.chunks[i].npages * SNAP_PAGE_SIZE;
		stored[v] += img.chunks[i].stored_len;
	}
	for (uint32_t i = 0; i < img.nr_vmas; i++) {
		total_virtual += img.vmas[i].end - img.vmas[i].start;
		total_mem += mem[i];
		total_stored += stored[i];
	}
	const struct snap_rec_process *p = &img.process;
	const char *exe = p->exe_file >= 0 ? snap_image_string(&img, img.files[p->exe_file].path) : "";
	double ratio = total_stored ? (double)total_mem / (double)total_stored : 0;

	if (cli->json) {
		struct json j;
		char prot[4];
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_uint(&j, "format_version", SNAP_FORMAT_VERSION);
		json_object_begin(&j, "process");
		json_int(&j, "pid", p->pid);
		json_string(&j, "comm", snap_image_string(&img, p->comm));
		json_string(&j, "exe", exe);
		json_string(&j, "cwd", snap_image_string(&img, p->cwd));
		json_string(&j, "kernel", snap_image_string(&img, p->kernel_release));
		json_uint(&j, "captured_unix_ns", p->capture_time_ns);
		json_object_end(&j);
		json_array_begin(&j, "threads");
		for (uint32_t i = 0; i < img.nr_threads; i++) {
			json_object_begin(&j, NULL);
			json_int(&j, "tid", img.threads[i].tid);
			json_string(&j, "comm", img.threads[i].comm);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_array_begin(&j, "mappings");
		for (uint32_t i = 0; i < img.nr_vmas; i++) {
			const struct snap_rec_vma *v = &img.vmas[i];
			prot_string(v->prot, prot);
			json_object_begin(&j, NULL);
			json_hex(&j, "start", v->start);
			json_hex(&j, "end", v->end);
			json_string(&j, "prot", prot);
			json_string(&j, "kind", vma_kind(v->kind));
			json_string(&j, "name", snap_image_string(&img, v->name));
			json_uint(&j, "bytes_memory", mem[i]);
			json_uint(&j, "bytes_stored", stored[i]);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_array_begin(&j, "fds");
		for (uint32_t i = 0; i < img.nr_fds; i++) {
			const struct snap_rec_fd *f = &img.fds[i];
			json_object_begin(&j, NULL);
			json_int(&j, "fd", f->fd);
			json_string(&j, "kind", fd_kind(f->kind));
			json_string(&j, "path", f->file >= 0 ? snap_image_string(&img, img.files[f->file].path) : "");
			json_uint(&j, "pos", f->pos);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_uint(&j, "chunks", img.nr_chunks);
		json_uint(&j, "bytes_virtual", total_virtual);
		json_uint(&j, "bytes_memory", total_mem);
		json_uint(&j, "bytes_stored", total_stored);
		json_double(&j, "compression_ratio", ratio);
		json_object_end(&j);
		json_finish(&j);
	} else {
		char prot[4];
		printf("snapshot %s (format %u)\n", argv[optind], SNAP_FORMAT_VERSION);
		printf("process  pid %d (%s) %s\n", p->pid, snap_image_string(&img, p->comm), exe);
		printf("kernel   %s\n", snap_image_string(&img, p->kernel_release));
		printf("threads  %u:", img.nr_threads);
		for (uint32_t i = 0; i < img.nr_threads; i++)
			printf(" %d", img.threads[i].tid);
		printf("\nmemory   %.1f MiB virtual, %.1f MiB of pages, %.1f MiB stored (%.2fx), %u chunks\n\n",
		       (double)total_virtual / 1048576.0, (double)total_mem / 1048576.0,
		       (double)total_stored / 1048576.0, ratio, img.nr_chunks);
		printf("%-33s %-4s %-5s %10s %10s  %s\n", "mapping", "prot", "kind", "pages KiB", "stored KiB", "name");
		for (uint32_t i = 0; i < img.nr_vmas; i++) {
			const struct snap_rec_vma *v = &img.vmas[i];
			char range[40];
			prot_string(v->prot, prot);
			snprintf(range, sizeof(range), "%012" PRIx64 "-%012" PRIx64, v->start, v->end);
			printf("%-33s %-4s %-5s %10" PRIu64 " %10" PRIu64 "  %s\n", range, prot, vma_kind(v->kind),
			       mem[i] / 1024, stored[i] / 1024, snap_image_string(&img, v->name));
		}
		printf("\n%-5s %-6s %10s  %s\n", "fd", "kind", "offset", "path");
		for (uint32_t i = 0; i < img.nr_fds; i++) {
			const struct snap_rec_fd *f = &img.fds[i];
			printf("%-5d %-6s %10" PRIu64 "  %s\n", f->fd, fd_kind(f->kind), f->pos,
			       f->file >= 0 ? snap_image_string(&img, img.files[f->file].path)
				   : f->kind == SNAP_FD_STDIO ? "(the restoring command's own)" : "");
		}
	}
	free(mem);
	free(stored);
	snap_image_release(&img);
	return 0;
}
