/* vmlinux_min.h — the few kernel types guard.bpf.c uses, for build machines
 * without /sys/kernel/btf/vmlinux; never used when bpftool can dump the real one. */
#ifndef SNAP_VMLINUX_MIN_H
#define SNAP_VMLINUX_MIN_H

/* Kernel-internal structs carry only the fields read, marked for CO-RE:
 * libbpf relocates each access against the running kernel's BTF at load.
 * The bpf context structs are UAPI and copied exactly. */

typedef unsigned char __u8;
typedef short unsigned int __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long int __s64;
typedef long long unsigned int __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
typedef u32 dev_t;
typedef unsigned short umode_t;
typedef unsigned short sa_family_t;
enum { false = 0, true = 1 };

enum bpf_map_type {
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
};

enum io_uring_op {
	IORING_OP_SOCKET = 45,
};

/* ---- UAPI contexts (include/uapi/linux/bpf.h) ---- */

struct bpf_sock {
	__u32 bound_dev_if;
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 mark;
	__u32 priority;
	__u32 src_ip4;
	__u32 src_ip6[4];
	__u32 src_port;
	__be16 dst_port;
	__u32 dst_ip4;
	__u32 dst_ip6[4];
	__u32 state;
	__s32 rx_queue_mapping;
};

struct bpf_sock_addr {
	__u32 user_family;
	__u32 user_ip4;
	__u32 user_ip6[4];
	__u32 user_port;
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 msg_src_ip4;
	__u32 msg_src_ip6[4];
	union {
		struct bpf_sock *sk;
	};
};

struct bpf_cgroup_dev_ctx {
	__u32 access_type;
	__u32 major;
	__u32 minor;
};

/* ---- kernel-internal, CO-RE relocated ---- */

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct pt_regs { /* x86-64 */
	long unsigned int r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	long unsigned int ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

struct sock_common {
	unsigned short skc_family;
};

struct sock {
	struct sock_common __sk_common;
};

struct socket {
	short type;
	struct sock *sk;
};

struct sockaddr {
	sa_family_t sa_family;
};

struct in_addr {
	__be32 s_addr;
};

struct sockaddr_in {
	sa_family_t sin_family;
	__be16 sin_port;
	struct in_addr sin_addr;
};

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

struct sockaddr_in6 {
	unsigned short sin6_family;
	__be16 sin6_port;
	__be32 sin6_flowinfo;
	struct in6_addr sin6_addr;
};

struct msghdr {
	void *msg_name;
};

struct inode {
	umode_t i_mode;
	dev_t i_rdev;
};

struct file {
	struct inode *f_inode;
};

struct cred;
struct user_namespace;
struct task_struct;

struct io_uring_cqe {
	__s32 res;
};

struct io_cmd_data {
	struct file *file;
	__u8 data[56];
};

struct io_kiocb {
	struct io_cmd_data cmd;
	u8 opcode;
};

struct io_socket {
	struct file *file;
	int domain;
	int type;
	int protocol;
};

#pragma clang attribute pop

#endif
