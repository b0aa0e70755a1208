/* guard_event.h — what the guard's bpf programs and libsnap share: the
 * event record of one denial and the settings' layout. Plain __u* types only:
 * never include a kernel or libc header from here (both sides include it). */
#ifndef SNAP_GUARD_EVENT_H
#define SNAP_GUARD_EVENT_H

#define GUARD_MAX_DEVICES 16

/* What was denied. */
enum guard_what {
	GUARD_SOCKET = 1,  /* socket(family, type, protocol) */
	GUARD_CONNECT = 2, /* connect() to addr:port */
	GUARD_SENDMSG = 3, /* sendto()/sendmsg() to addr:port */
	GUARD_DEVICE = 4,  /* open of device node major:minor */
};

/* Which hook saw it (the same attempt is reported once). */
enum guard_hook {
	GUARD_HOOK_CGROUP = 1, /* a cgroup bpf program denied it */
	GUARD_HOOK_LSM = 2,    /* a bpf LSM program denied it */
	GUARD_HOOK_CAP = 3,    /* refused for want of CAP_NET_RAW, seen by the kprobe observer */
};

struct guard_event {
	__u32 what;  /* enum guard_what */
	__u32 hook;  /* enum guard_hook */
	__u32 tgid;  /* process */
	__u32 tid;   /* thread */
	char comm[16];
	__s32 err;   /* the errno the caller got (EPERM) */
	/* sockets */
	__u32 family, type, protocol;
	__u16 port;  /* host order */
	__u16 pad;
	__u8 addr[16]; /* 4 bytes for AF_INET */
	/* devices */
	__u32 dev_type; /* 'c' or 'b' */
	__u32 major, minor;
};

/* A device the guard denies: type 'c' or 'b', minor ~0u for any. */
struct guard_device {
	__u32 type;
	__u32 major;
	__u32 minor;
};

#define GUARD_ANY_MINOR 0xffffffffu

#endif
