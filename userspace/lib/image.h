/* image.h — the snapshot format (docs/FORMAT.md): what a snapshot holds in
 * memory, how it is written, and a reader that trusts nothing it reads.
 * Records are fixed-size little-endian structs; strings live in a string
 * table and are referred to by offset. */
#ifndef SNAP_IMAGE_H
#define SNAP_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap_ctx;

#define SNAP_FORMAT_VERSION 1
#define SNAP_META_MAGIC "SNAPMETA"
#define SNAP_PAGES_MAGIC "SNAPPAGE"
#define SNAP_META_FILE "meta"
#define SNAP_PAGES_FILE "pages"
#define SNAP_PAGE_SIZE 4096u
#define SNAP_CHUNK_MAX_PAGES 64u /* 256 KiB: one fault decompresses one chunk */
#define SNAP_NSIG 64
#define SNAP_NRLIMITS 16
#define SNAP_MAX_AUXV 64
#define SNAP_REGS_WORDS 27 /* struct user_regs_struct on x86-64 */
#define SNAP_XSTATE_MAX 16384

/* Sanity bounds a reader enforces before allocating anything. */
#define SNAP_MAX_RECORDS (1u << 24)
#define SNAP_MAX_META_SIZE (1ull << 31)

enum snap_section_type {
	SNAP_SEC_PROCESS = 1,
	SNAP_SEC_THREADS = 2,
	SNAP_SEC_VMAS = 3,
	SNAP_SEC_FILES = 4,
	SNAP_SEC_FDS = 5,
	SNAP_SEC_CHUNKS = 6,
	SNAP_SEC_STRINGS = 7,
	SNAP_SEC_BLOBS = 8,
	SNAP_SEC_OBJECTS = 9,
	SNAP_SEC_MAX = 9,
};

struct snap_meta_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;  /* sizeof(struct snap_meta_header) */
	uint64_t file_size;    /* the whole meta file */
	uint32_t section_count;
	uint32_t flags;
	uint8_t uuid[16];      /* also in the pages file: the two belong together */
	uint32_t reserved[3];
	uint32_t crc;          /* CRC-32C of this header (crc = 0) and the section table */
};

struct snap_section {
	uint32_t type;
	uint32_t record_size;
	uint64_t offset;
	uint64_t size;
	uint32_t count;
	uint32_t crc;          /* CRC-32C of [offset, offset + size) */
};

/* A string: offset into the string table; 0 is the empty string. */
typedef uint32_t snap_str_t;

struct snap_rec_process {
	int32_t pid;
	uint32_t personality;
	uint32_t umask;
	uint32_t flags;
	snap_str_t cwd;
	int32_t exe_file;           /* index into files, -1: none */
	snap_str_t kernel_release;  /* uname -r at capture */
	snap_str_t comm;
	uint64_t capture_time_ns;   /* CLOCK_REALTIME */
	/* mm fields, as PR_SET_MM_MAP takes them */
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint32_t auxv_count;        /* pairs in auxv[] */
	uint32_t nr_threads;
	uint64_t auxv[SNAP_MAX_AUXV * 2];
	struct { uint64_t cur, max; } rlimits[SNAP_NRLIMITS];
	struct { uint64_t handler, flags, restorer, mask; } sigactions[SNAP_NSIG]; /* [signo - 1] */
	uint64_t xfeatures;         /* XCR0 the registers were saved under */
	uint32_t xsave_size;        /* CPU's xsave area size at capture */
	uint32_t reserved0;
	uint64_t pages_size;        /* exact size of the pages file */
	uint32_t pages_header_crc;
	uint32_t reserved1;
	/* signals pending for the whole process: siginfo_t (128 bytes) each, in blobs */
	uint64_t shared_pending_off;
	uint32_t shared_pending_count;
	uint32_t reserved2;
	/* ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF: time left and interval */
	struct { uint64_t value_us, interval_us; } itimers[3];
};

#define SNAP_SIGINFO_SIZE 128
#define SNAP_MAX_OBJECTS 1024
#define SNAP_MAX_PENDING 4096

struct snap_rec_thread {
	int32_t tid;
	uint32_t flags;
	uint64_t regs[SNAP_REGS_WORDS];
	uint64_t sigmask;
	uint64_t altstack_sp, altstack_size;
	uint32_t altstack_flags;
	uint32_t rseq_len;
	uint64_t rseq_ptr;
	uint32_t rseq_sig;
	uint32_t reserved0;
	uint64_t robust_head, robust_len;
	uint64_t clear_child_tid;
	uint64_t xstate_off;        /* into the blob section */
	uint32_t xstate_len;
	uint32_t reserved1;
	char comm[16];
	/* signals pending for this thread: siginfo_t each, in blobs */
	uint64_t pending_off;
	uint32_t pending_count;
	uint32_t reserved2;
};

enum snap_vma_kind {
	SNAP_VMA_ANON = 1,   /* private anonymous: content in chunks */
	SNAP_VMA_FILE = 2,   /* private file mapping: file + chunks for changed pages */
	SNAP_VMA_VDSO = 3,   /* [vdso]: moved into place, not copied */
	SNAP_VMA_VVAR = 4,   /* [vvar], [vvar_vclock]: moved with the vdso */
	SNAP_VMA_SHARED_FILE = 5, /* MAP_SHARED file mapping: mapped again, the file is the content */
	SNAP_VMA_SHMEM = 6,  /* MAP_SHARED anonymous or memfd: a shared memory object, content in chunks */
};

/* vma flags */
#define SNAP_VMA_GROWSDOWN (1u << 0)
#define SNAP_VMA_NORESERVE (1u << 1)
#define SNAP_VMA_STACK (1u << 2)   /* [stack] */
#define SNAP_VMA_HEAP (1u << 3)    /* [heap] */
#define SNAP_VMA_LOCKED (1u << 4)
#define SNAP_VMA_MAYWRITE (1u << 5) /* shared file mapping that may become writable (file opened O_RDWR) */
#define SNAP_VMA_HUGEPAGE (1u << 6)   /* MADV_HUGEPAGE */
#define SNAP_VMA_NOHUGEPAGE (1u << 7) /* MADV_NOHUGEPAGE */
#define SNAP_VMA_DONTFORK (1u << 8)   /* MADV_DONTFORK */
#define SNAP_VMA_WIPEONFORK (1u << 9) /* MADV_WIPEONFORK */
#define SNAP_VMA_DONTDUMP (1u << 10)  /* MADV_DONTDUMP */
#define SNAP_VMA_WHOLE (1u << 11)     /* every page stored (private map of a deleted file, kept as anon) */

struct snap_rec_vma {
	uint64_t start, end;
	uint64_t pgoff;             /* byte offset into the file */
	uint32_t prot;              /* PROT_READ | PROT_WRITE | PROT_EXEC */
	uint32_t kind;              /* enum snap_vma_kind */
	uint32_t flags;             /* SNAP_VMA_* */
	int32_t file;               /* index into files, -1 */
	snap_str_t name;            /* [vdso], [vvar], [stack], path... */
	int32_t object;             /* SNAP_VMA_SHMEM: index into objects (pgoff is the offset in it), else -1 */
};

enum snap_object_kind {
	SNAP_OBJECT_SHARED_ANON = 1, /* MAP_SHARED | MAP_ANONYMOUS */
	SNAP_OBJECT_MEMFD = 2,       /* memfd_create */
};

/* A shared memory object: its pages are chunks with .object = index + 1. */
struct snap_rec_object {
	uint64_t size;
	uint32_t kind;
	uint32_t seals;             /* F_GET_SEALS of a memfd */
	snap_str_t name;            /* memfd name, without the "memfd:" prefix */
	uint32_t reserved;
	uint64_t ino;               /* at capture, to tell objects apart */
};

/* What a file looked like at capture; restore refuses a file that differs. */
struct snap_rec_file {
	snap_str_t path;
	uint32_t mode;
	uint64_t dev, ino, size;
	int64_t mtime_ns;
};

enum snap_fd_kind {
	SNAP_FD_FILE = 1,    /* regular file: reopened by path */
	SNAP_FD_STDIO = 2,   /* fd 0-2 on a tty or pipe: bound to the restorer's own */
	SNAP_FD_DEVICE = 3,  /* /dev/null, /dev/zero, /dev/urandom...: reopened by path */
	/* pipe: aux[0] pipe id, aux[1] 1 = write end, aux[2] pipe size; data: the
	 * buffered bytes, on the pipe's first record only (none without a read
	 * end); an end with no record is closed at restore */
	SNAP_FD_PIPE = 4,
	SNAP_FD_EVENTFD = 5, /* aux[0] count, aux[1] 1 = EFD_SEMAPHORE */
	SNAP_FD_SIGNALFD = 6,/* aux[0] signal mask */
	/* timerfd: aux[0] clock id | settime flags << 32, aux[1] ns left (0:
	 * disarmed, or fired and unread when aux[2] and aux[3] are not 0),
	 * aux[2] interval ns, aux[3] ticks not yet read */
	SNAP_FD_TIMERFD = 7,
	SNAP_FD_EPOLL = 8,   /* data: { int32 fd; uint32 events; uint64 data; } per watched fd */
	SNAP_FD_MEMFD = 9,   /* object: the memfd's object */
	SNAP_FD_READY = 10,  /* the readiness fd: restored as a pipe holding "restored\n" */
	SNAP_FD_KIND_MAX = 10,
};

#define SNAP_FD_CLOEXEC (1u << 0)
#define SNAP_FD_CHECK_CONTENT (1u << 1) /* file was open read-only: size and mtime must match */

struct snap_rec_fd {
	int32_t fd;
	uint32_t kind;
	int32_t file;               /* index into files, -1 */
	uint32_t open_flags;        /* O_* as in fdinfo, without O_CLOEXEC */
	uint64_t pos;
	uint32_t flags;             /* SNAP_FD_* */
	int32_t same_as;            /* index of an earlier fd sharing this open file (any kind), -1 */
	int32_t object;             /* SNAP_FD_MEMFD: index into objects, else -1 */
	uint32_t data_len;          /* bytes in blobs at data_off (kind-specific) */
	uint64_t data_off;
	uint64_t aux[4];            /* kind-specific, see enum snap_fd_kind */
};

enum snap_chunk_encoding {
	SNAP_CHUNK_RAW = 0,  /* page-aligned in the pages file, can be mapped */
	SNAP_CHUNK_ZSTD = 1, /* one zstd frame */
};

struct snap_rec_chunk {
	uint64_t vaddr;
	uint32_t npages;
	uint32_t encoding;
	uint64_t offset;            /* into the pages file */
	uint64_t stored_len;
	/* CRC-32C of the pages file from the end of the previous chunk (or of
	 * the header) to the end of this one: padding is covered too. */
	uint32_t crc;
	uint32_t object;            /* 0: process memory at vaddr; k: object k - 1, vaddr = offset in it */
};

struct snap_pages_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint8_t uuid[16];
	uint32_t reserved[7];
	uint32_t crc;               /* of this header with crc = 0 */
};

/* A snapshot in memory: what capture fills and the writer writes, or what
 * the reader produced after validating every field. */
struct snap_image {
	uint8_t uuid[16];
	struct snap_rec_process process;
	struct snap_rec_thread *threads;
	uint32_t nr_threads;
	struct snap_rec_vma *vmas;
	uint32_t nr_vmas;
	struct snap_rec_file *files;
	uint32_t nr_files;
	struct snap_rec_fd *fds;
	uint32_t nr_fds;
	struct snap_rec_chunk *chunks;
	uint32_t nr_chunks;
	struct snap_rec_object *objects;
	uint32_t nr_objects;
	char *strings;              /* starts with "\0" */
	uint32_t strings_len;
	uint8_t *blobs;
	uint64_t blobs_len;
	/* capture only, never written: where each object's content can be read */
	char (*object_sources)[64];
	/* capacities for the builders */
	uint32_t cap_threads, cap_vmas, cap_files, cap_fds, cap_chunks, cap_strings, cap_objects;
	uint64_t cap_blobs;
};

/* ---- building (capture) ---- */
void snap_image_init(struct snap_image *img);
void snap_image_release(struct snap_image *img);
int snap_image_add_string(struct snap_image *img, const char *s, snap_str_t *ret);
int snap_image_add_blob(struct snap_image *img, const void *data, uint32_t len, uint64_t *ret_off);
int snap_image_add_vma(struct snap_image *img, struct snap_rec_vma **ret);
int snap_image_add_file(struct snap_image *img, struct snap_rec_file **ret, int32_t *ret_index);
int snap_image_add_fd(struct snap_image *img, struct snap_rec_fd **ret);
int snap_image_add_thread(struct snap_image *img, struct snap_rec_thread **ret);
int snap_image_add_chunk(struct snap_image *img, struct snap_rec_chunk **ret);
int snap_image_add_object(struct snap_image *img, struct snap_rec_object **ret, int32_t *ret_index);
const char *snap_image_string(const struct snap_image *img, snap_str_t s);

/* Serializes img (with its uuid and pages_size already set) into a meta
 * file image; *ret_buf is malloc'ed. */
int snap_image_encode(struct snap_image *img, void **ret_buf, size_t *ret_len);
void snap_pages_header_init(struct snap_pages_header *h, const uint8_t uuid[16]);

/* ---- reading (inspect, restore) ---- */
/* Parses and validates a meta file image: magic, version, every CRC, every
 * count, offset, index and address. On failure ctx says what is wrong. */
int snap_image_decode(struct snap_ctx *ctx, const void *buf, size_t len, struct snap_image *ret_img);
/* Reads DIR/meta and decodes it; checks the pages file's header and size
 * (not the chunk contents: see snap_image_verify_pages). */
int snap_image_load(struct snap_ctx *ctx, const char *dir, struct snap_image *ret_img);
/* Reads the whole pages file and checks every chunk's CRC. */
int snap_image_verify_pages(struct snap_ctx *ctx, const char *dir, const struct snap_image *img);

#endif
