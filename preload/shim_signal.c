/*
 * shim_signal.c - remember which signal handlers lack SA_RESTART, so that
 * blocking socket calls on xtcp restart after a signal exactly when Linux
 * would restart them (recv/send/accept without SO_RCVTIMEO/SO_SNDTIMEO).
 *
 * Call order: the app's sigaction()/signal() -> shim_sigaction()/
 * shim_signal() record the disposition, then call libc. A blocking wait that
 * returns EINTR asks shim_sig_restart(). glibc's signal() installs handlers
 * with SA_RESTART (BSD semantics); handlers installed before this library's
 * constructor are not seen (they count as restarting).
 * Memory: one static table.
 */
#include "shim.h"

static uint8_t no_restart[_NSIG]; /* 1: a handler without SA_RESTART is installed */
static unsigned n_no_restart;

static void note(int sig, bool handler, bool restart)
{
	uint8_t v = handler && !restart;

	if (sig <= 0 || sig >= _NSIG || no_restart[sig] == v)
		return;
	__atomic_store_n(&no_restart[sig], v, __ATOMIC_RELAXED);
	if (v)
		__atomic_add_fetch(&n_no_restart, 1, __ATOMIC_RELAXED);
	else
		__atomic_sub_fetch(&n_no_restart, 1, __ATOMIC_RELAXED);
}

int shim_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int r = REAL(sigaction)(sig, act, old);

	if (!r && act)
		note(sig, act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN,
		     act->sa_flags & SA_RESTART);
	return r;
}

sighandler_t shim_signal(int sig, sighandler_t handler)
{
	sighandler_t r = REAL(signal)(sig, handler);

	if (r != SIG_ERR)
		note(sig, handler != SIG_DFL && handler != SIG_IGN, true);
	return r;
}

bool shim_sig_restart(uint64_t timeout_us)
{
	return !timeout_us && !__atomic_load_n(&n_no_restart, __ATOMIC_RELAXED);
}
