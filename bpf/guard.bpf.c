/* guard.bpf.c — the snapshot phase's guard: denies the workload's cgroup network
 * sockets and GPU device opens and reports each; never denies another cgroup. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "guard_event.h"

/* GPL-compatible: the ring buffer, kernel reads and LSM programs need it. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define EPERM 1

/* <linux/bpf.h> has them as an anonymous enum, which BTF does not carry. */
#define DEVCG_ACC_READ (1u << 1)
#define DEVCG_ACC_WRITE (1u << 2)
#define DEVCG_DEV_BLOCK 1u
#define DEVCG_DEV_CHAR 2u

#define S_IFMT 00170000
#define S_IFCHR 0020000
#define S_IFBLK 0060000
#define KDEV_MINORBITS 20

/* Set by libsnap through the skeleton's rodata before load. */
const volatile __u64 target_cgid = 0;  /* the workload's cgroup */
const volatile __u32 target_level = 0; /* its depth below the hierarchy's root */
const volatile __u32 nr_devices = 0;
const volatile struct guard_device devices[GUARD_MAX_DEVICES] = {};

/* Events the ring buffer had no room for; libsnap reads it at the end. */
__u64 lost_events = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* socket() arguments between the observer's entry and return probes. */
struct sock_args {
	__u32 family, type, protocol;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct sock_args);
} pending_sockets SEC(".maps");

/* True for a task of the workload's cgroup or of one below it. The exact
 * match alone holds inside a cgroup namespace, where the level may differ. */
static __always_inline bool in_target(void)
{
	if (bpf_get_current_cgroup_id() == target_cgid)
		return true;
	return bpf_get_current_ancestor_cgroup_id(target_level) == target_cgid;
}

static __always_inline bool denied_family(__u32 family)
{
	return family == AF_INET || family == AF_INET6 || family == AF_PACKET;
}

/* A zeroed event with who did it, or NULL (counted) when the ring is full. */
static __always_inline struct guard_event *event_new(__u32 what, __u32 hook)
{
	struct guard_event *e;
	__u64 id;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	id = bpf_get_current_pid_tgid();
	e->what = what;
	e->hook = hook;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->err = EPERM;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

static __always_inline bool device_denied(__u32 type, __u32 major, __u32 minor)
{
	for (__u32 i = 0; i < GUARD_MAX_DEVICES; i++) {
		if (i >= nr_devices)
			break;
		if (devices[i].type == type && devices[i].major == major &&
		    (devices[i].minor == GUARD_ANY_MINOR || devices[i].minor == minor))
			return true;
	}
	return false;
}

static __always_inline void report_device(__u32 hook, __u32 type, __u32 major, __u32 minor)
{
	struct guard_event *e = event_new(GUARD_DEVICE, hook);

	if (!e)
		return;
	e->dev_type = type;
	e->major = major;
	e->minor = minor;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void report_socket(__u32 hook, __u32 family, __u32 type, __u32 protocol)
{
	struct guard_event *e = event_new(GUARD_SOCKET, hook);

	if (!e)
		return;
	e->family = family;
	e->type = type;
	e->protocol = protocol;
	bpf_ringbuf_submit(e, 0);
}

/* ---- cgroup backend -------------------------------------------------------- */

/* Attached to the workload's cgroup: every socket created in it. The kernel
 * runs this hook for AF_INET and AF_INET6 only (inet_create, inet6_create);
 * AF_PACKET never reaches it (see guard_cgroup.c). 0 = EPERM. */
SEC("cgroup/sock_create")
int guard_sock_create(struct bpf_sock *sk)
{
	if (!denied_family(sk->family))
		return 1;
	report_socket(GUARD_HOOK_CGROUP, sk->family, sk->type, sk->protocol);
	return 0;
}

/* connect/sendmsg: for sockets the workload got from elsewhere (inherited),
 * which sock_create never saw. Attached above the workload's cgroup, so the
 * caller's cgroup decides. */
static __always_inline struct guard_event *addr_event(struct bpf_sock_addr *ctx, __u32 what)
{
	struct guard_event *e = event_new(what, GUARD_HOOK_CGROUP);

	if (!e)
		return NULL;
	e->family = ctx->user_family;
	e->type = ctx->type;
	e->protocol = ctx->protocol;
	e->port = bpf_ntohs((__u16)ctx->user_port);
	return e;
}

/* The verifier lets a connect4/sendmsg4 program read only the IPv4 fields
 * and a connect6/sendmsg6 one only the IPv6 fields: two helpers. 0 = EPERM. */
static __always_inline int deny_addr4(struct bpf_sock_addr *ctx, __u32 what)
{
	struct guard_event *e;
	__u32 a;

	if (!in_target())
		return 1;
	e = addr_event(ctx, what);
	if (!e)
		return 0;
	a = ctx->user_ip4;
	__builtin_memcpy(e->addr, &a, 4);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int deny_addr6(struct bpf_sock_addr *ctx, __u32 what)
{
	struct guard_event *e;
	__u32 a[4];

	if (!in_target())
		return 1;
	e = addr_event(ctx, what);
	if (!e)
		return 0;
	a[0] = ctx->user_ip6[0];
	a[1] = ctx->user_ip6[1];
	a[2] = ctx->user_ip6[2];
	a[3] = ctx->user_ip6[3];
	__builtin_memcpy(e->addr, a, 16);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("cgroup/connect4")
int guard_connect4(struct bpf_sock_addr *ctx)
{
	return deny_addr4(ctx, GUARD_CONNECT);
}

SEC("cgroup/connect6")
int guard_connect6(struct bpf_sock_addr *ctx)
{
	return deny_addr6(ctx, GUARD_CONNECT);
}

SEC("cgroup/sendmsg4")
int guard_sendmsg4(struct bpf_sock_addr *ctx)
{
	return deny_addr4(ctx, GUARD_SENDMSG);
}

SEC("cgroup/sendmsg6")
int guard_sendmsg6(struct bpf_sock_addr *ctx)
{
	return deny_addr6(ctx, GUARD_SENDMSG);
}

/* Device nodes: opens (read or write) of the configured majors. mknod
 * stays allowed: a node that cannot be opened is harmless. 0 = EPERM. */
SEC("cgroup/dev")
int guard_dev(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 type = ctx->access_type & 0xffff, access = ctx->access_type >> 16;
	__u32 t = type == DEVCG_DEV_CHAR ? 'c' : type == DEVCG_DEV_BLOCK ? 'b' : 0;

	if (!(access & (DEVCG_ACC_READ | DEVCG_ACC_WRITE)) || !device_denied(t, ctx->major, ctx->minor))
		return 1;
	report_device(GUARD_HOOK_CGROUP, t, ctx->major, ctx->minor);
	return 0;
}

/* The observers: packet sockets the workload could not create because the
 * cgroup backend took CAP_NET_RAW from it. They deny nothing, and run on raw
 * tracepoints, which need neither kprobes nor tracefs. */
#ifdef __TARGET_ARCH_x86
#define NR_socket 41
#define CAP_NET_RAW 13

/* socket(2): the refused capability check (the cap_capable tracepoint,
 * in recent kernels), and the syscall's arguments in the task's registers. */
SEC("tp_btf/cap_capable")
int BPF_PROG(guard_observe_cap, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	struct pt_regs *regs;

	if (cap != CAP_NET_RAW || ret == 0 || !in_target())
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs || regs->orig_ax != NR_socket || regs->di != AF_PACKET)
		return 0; /* io_uring's requests: guard_observe_uring */
	report_socket(GUARD_HOOK_CAP, (__u32)regs->di, (__u32)regs->si, (__u32)regs->dx);
	return 0;
}

/* Without cap_capable: the arguments at sys_enter, the result at sys_exit.
 * Every syscall of the machine pays for these two (the slow syscall path
 * for every task), so only when cap_capable is missing. */
SEC("tp_btf/sys_enter")
int BPF_PROG(guard_observe_sys_enter, struct pt_regs *regs, long id)
{
	struct sock_args args;
	__u32 tid;

	if (id != NR_socket || regs->di != AF_PACKET || !in_target())
		return 0;
	args.family = (__u32)regs->di;
	args.type = (__u32)regs->si;
	args.protocol = (__u32)regs->dx;
	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending_sockets, &tid, &args, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(guard_observe_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sock_args *args;

	if (regs->orig_ax != NR_socket)
		return 0;
	args = bpf_map_lookup_elem(&pending_sockets, &tid);
	if (!args)
		return 0;
	if (ret == -EPERM)
		report_socket(GUARD_HOOK_CAP, args->family, args->type, args->protocol);
	bpf_map_delete_elem(&pending_sockets, &tid);
	return 0;
}
#endif

/* io_uring's IORING_OP_SOCKET, at its completion (Linux 6.0's form of the
 * tracepoint: ring, request, cqe). The request still holds its arguments. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(guard_observe_uring, void *ring, void *req, struct io_uring_cqe *cqe)
{
	struct io_kiocb *r = req;
	struct io_socket *sock;
	__u32 family;

	if (BPF_CORE_READ(r, opcode) != bpf_core_enum_value(enum io_uring_op, IORING_OP_SOCKET))
		return 0;
	if (BPF_CORE_READ(cqe, res) != -EPERM || !in_target())
		return 0;
	sock = (void *)r + bpf_core_field_offset(struct io_kiocb, cmd);
	family = BPF_CORE_READ(sock, domain);
	if (family == AF_PACKET)
		report_socket(GUARD_HOOK_CAP, family, BPF_CORE_READ(sock, type), BPF_CORE_READ(sock, protocol));
	return 0;
}

/* ---- LSM backend --------------------------------------------------------- */

#ifndef GUARD_NO_LSM
/* The LSM hooks are global: the caller's cgroup decides. */
SEC("lsm/socket_create")
int BPF_PROG(guard_lsm_socket_create, int family, int type, int protocol, int kern, int ret)
{
	if (ret || kern || !denied_family(family) || !in_target())
		return ret;
	report_socket(GUARD_HOOK_LSM, family, type, protocol);
	return -EPERM;
}

static __always_inline int lsm_deny_addr(struct socket *sock, struct sockaddr *address, __u32 what)
{
	__u16 sock_family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
	__u16 family = BPF_CORE_READ(address, sa_family);
	struct guard_event *e;

	if ((sock_family != AF_INET && sock_family != AF_INET6) || !in_target())
		return 0;
	e = event_new(what, GUARD_HOOK_LSM);
	if (!e)
		return -EPERM;
	e->family = family;
	e->type = BPF_CORE_READ(sock, type);
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)address;

		e->port = bpf_ntohs(BPF_CORE_READ(in, sin_port));
		bpf_probe_read_kernel(e->addr, 4, &in->sin_addr);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)address;

		e->port = bpf_ntohs(BPF_CORE_READ(in6, sin6_port));
		bpf_probe_read_kernel(e->addr, 16, &in6->sin6_addr);
	}
	bpf_ringbuf_submit(e, 0);
	return -EPERM;
}

SEC("lsm/socket_connect")
int BPF_PROG(guard_lsm_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret)
		return ret;
	return lsm_deny_addr(sock, address, GUARD_CONNECT);
}

/* Only datagrams with an address: a connected socket went through connect. */
SEC("lsm/socket_sendmsg")
int BPF_PROG(guard_lsm_socket_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	struct sockaddr *name;

	if (ret)
		return ret;
	name = BPF_CORE_READ(msg, msg_name);
	if (!name)
		return 0;
	return lsm_deny_addr(sock, name, GUARD_SENDMSG);
}

SEC("lsm/file_open")
int BPF_PROG(guard_lsm_file_open, struct file *file, int ret)
{
	struct inode *inode;
	__u32 mode, type, major, minor;
	dev_t rdev;

	if (ret)
		return ret;
	inode = BPF_CORE_READ(file, f_inode);
	mode = BPF_CORE_READ(inode, i_mode);
	if ((mode & S_IFMT) == S_IFCHR)
		type = 'c';
	else if ((mode & S_IFMT) == S_IFBLK)
		type = 'b';
	else
		return 0;
	rdev = BPF_CORE_READ(inode, i_rdev);
	major = rdev >> KDEV_MINORBITS;
	minor = rdev & ((1u << KDEV_MINORBITS) - 1);
	if (!device_denied(type, major, minor) || !in_target())
		return 0;
	report_device(GUARD_HOOK_LSM, type, major, minor);
	return -EPERM;
}
#endif
