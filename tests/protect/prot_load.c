/*
 * prot_load.c - attach the protection test harness (prot_harness.bpf.o) to an
 * interface, for tests/protect/protect_testbed.sh when the real steering
 * program is not the one under test:
 *
 *   prot_load OBJ IFACE [PORT...]     native mode; PORT = served TCP ports
 *
 * The program stays attached after exit (netlink attachment); remove it with
 * `xtcpctl detach IFACE --force` (it is not xtcp's steering program).
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	unsigned ifindex;
	int i, fd, err, rc = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: prot_load OBJ IFACE [PORT...]\n");
		return 2;
	}
	ifindex = if_nametoindex(argv[2]);
	if (!ifindex) {
		fprintf(stderr, "prot_load: no such interface: %s\n", argv[2]);
		return 1;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (libbpf_get_error(obj)) {
		fprintf(stderr, "prot_load: cannot open %s\n", argv[1]);
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "prot_load: cannot load %s\n", argv[1]);
		goto out;
	}
	fd = bpf_object__find_map_fd_by_name(obj, "h_served");
	for (i = 3; i < argc; i++) {
		uint16_t port = (uint16_t)atoi(argv[i]);
		uint8_t one = 1;

		if (bpf_map_update_elem(fd, &port, &one, BPF_ANY)) {
			fprintf(stderr, "prot_load: port %s: %s\n", argv[i], strerror(errno));
			goto out;
		}
	}
	prog = bpf_object__find_program_by_name(obj, "prot_harness");
	err = bpf_xdp_attach((int)ifindex, bpf_program__fd(prog), XDP_FLAGS_DRV_MODE, NULL);
	if (err) {
		fprintf(stderr, "prot_load: attach to %s: %s\n", argv[2], strerror(-err));
		goto out;
	}
	rc = 0; /* the attachment holds the program after the object is closed */
out:
	bpf_object__close(obj);
	return rc;
}
