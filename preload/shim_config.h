/*
 * shim_config.h - the XTCP_* environment, parsed once by the constructor.
 *
 * Parsing is a pure function of a getenv-like callback so that unit tests
 * (tests/shim/test_config.c) can feed it any environment.
 */
#ifndef XTCP_SHIM_CONFIG_H
#define XTCP_SHIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum shim_log_level {
	SHIM_LOG_ERROR = 0,
	SHIM_LOG_WARN,
	SHIM_LOG_INFO,
	SHIM_LOG_DEBUG,
};

/* XTCP_QUEUES: how many RX queues a serving process takes. */
enum shim_queues {
	SHIM_QUEUES_AUTO = 0, /* all for a process started by exec, one for a forked child */
	SHIM_QUEUES_ONE,
	SHIM_QUEUES_ALL,
};

struct shim_config {
	bool active;	    /* XTCP_IFACE and XTCP_PORTS/XTCP_CONNECT_PORTS valid */
	bool strict;	    /* XTCP_STRICT=1: exit non-zero instead of falling back */
	bool xdp_generic;   /* XTCP_XDP_MODE=generic */
	bool stats;	    /* XTCP_STATS: publish /dev/shm/xtcp-<pid>.stats */
	uint8_t busy_poll;  /* XTCP_BUSY_POLL: enum xp_busy_poll (auto, 0, 1) */
	bool mtu_probing;   /* XTCP_MTU_PROBING: RFC 4821 after a black hole (tcp_mtu_probing=1) */
	bool fork_parent;   /* XTCP_FORK_CONNS=parent: fork leaves connections on xtcp */
	uint8_t queues;	    /* XTCP_QUEUES: enum shim_queues */
	uint8_t rx_csum;    /* XTCP_RX_CSUM: enum xp_rx_csum (auto, verify, trust-local) */
	uint8_t tx_csum;    /* XTCP_TX_CSUM: enum xp_tx_csum (auto, off) */
	int log_level;	    /* XTCP_LOG */
	char iface[16];	    /* XTCP_IFACE (IFNAMSIZ) */
	uint32_t spin_us;   /* XTCP_SPIN_US: bounded spinning before sleeping */
	uint16_t lport_min; /* XTCP_LOCAL_PORTS: xtcp's own connect() ports */
	uint16_t lport_max;
	uint32_t frames;	/* XTCP_FRAMES: UMEM frames per queue, 0 = xsk default */
	uint32_t max_socks;	/* XTCP_MAX_SOCKS: stack sockets, 0 = stack default */
	uint32_t queue_wait_ms; /* XTCP_QUEUE_WAIT_MS: wait for a free queue before dropping root */
	uint32_t exit_linger_ms; /* XTCP_EXIT_LINGER_MS: exit waits for closed connections' ACKs */
	unsigned n_ports;	 /* number of served listening ports */
	unsigned n_connect_ports;
	uint8_t ports[65536 / 8];	  /* XTCP_PORTS bitmap, host order */
	uint8_t connect_ports[65536 / 8]; /* XTCP_CONNECT_PORTS bitmap */
};

typedef const char *(*shim_getenv_fn)(const char *name);

/*
 * Fill cfg from the environment. Returns 0 when the configuration is valid
 * (cfg->active tells whether xtcp is on), or -EINVAL with one line in err
 * naming the variable and the accepted form; cfg->active is then false and
 * cfg->strict is still set from XTCP_STRICT.
 */
int shim_config_parse(struct shim_config *cfg, shim_getenv_fn get, char *err, size_t errlen);

/* Parse "80,8080,9000-9010" into a bitmap; returns the count or -EINVAL. */
int shim_config_parse_ports(const char *s, uint8_t bitmap[65536 / 8]);

static inline bool shim_port_in(const uint8_t *bitmap, uint16_t port)
{
	return bitmap[port >> 3] & (1u << (port & 7));
}

#endif
